import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { bearer, waitFor } from '@tcc/testing';
import type { OrderAdmission } from '../application/order-admission';
import type { OrderSagaService } from '../application/order-saga.service';
import { ordersHttp, TEST_ORDER_SETTINGS } from './orders-http.testing';
import type { OrdersHttp } from './orders-http.testing';

/** POST /orders over HTTP against a real PostgreSQL: back-pressure once too many orders are in progress. */
describe('orders HTTP API (real PostgreSQL)', () => {
  let http: OrdersHttp;
  let db: DataSource;
  let base: string;
  let orders: OrderSagaService;
  let admission: OrderAdmission;

  beforeAll(async () => {
    http = await ordersHttp('order_http', TEST_ORDER_SETTINGS);
    ({ db, base, orders, admission } = http);
  });

  afterAll(async () => {
    await http.close();
  });

  async function placeOrder(key: string, productId = 'p-1') {
    const response = await fetch(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...(await bearer('alice')) },
      body: JSON.stringify({ lines: [{ productId, quantity: 1 }] }),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: (await response.json()) as { id?: string; message?: string },
    };
  }

  const outOfStock = (orderId: string) => http.outOfStock(orderId);

  const rowsWithKey = async (key: string) =>
    Number(
      (
        await db.query<{ n: string }[]>('SELECT count(*) AS n FROM orders WHERE idempotency_key = $1', [key])
      )[0]?.n,
    );

  it('answers 503 while its event loop is behind, and takes orders again once it has caught up', async () => {
    // something hogs the loop: 200 ms of work every 20 ms, as a flood of requests and replies would
    const hog = setInterval(() => {
      const until = Date.now() + 200;
      while (Date.now() < until);
    }, 20);
    let refused: Awaited<ReturnType<typeof placeOrder>>;
    try {
      refused = await waitFor(
        async () => {
          const answer = await placeOrder(randomUUID());
          // an order taken before the loop's delay shows is ended at once: the in-progress limit
          // (2) must not be what refuses the next one
          if (answer.status === 202 && answer.body.id) await outOfStock(answer.body.id);
          return answer.status === 503 && answer;
        },
        { timeoutMs: 10_000, description: 'a 503 while the loop is behind' },
      );
    } finally {
      clearInterval(hog);
    }
    expect(refused.retryAfter).toBe('1');
    expect(refused.body.message).toMatch(
      /^the order service is \d+ ms behind \(more than 100 ms\): send the order again in a second$/,
    );
    // caught up: the next windows are quiet (the one order placed here, if any, is 1 of the 2)
    const taken = await waitFor(
      async () => {
        const answer = await placeOrder(randomUUID());
        return answer.status === 202 && answer;
      },
      { timeoutMs: 10_000, description: 'a 202 once the loop caught up' },
    );
    // ended at once (out of stock), so the next test starts with nothing in progress
    await outOfStock(taken.body.id!);
    const placedWhileHogged = await db.query<{ id: string }[]>(
      `SELECT id FROM orders WHERE status = 'TRYING'`,
    );
    for (const { id } of placedWhileHogged) await outOfStock(id);
    await admission.count();
  });

  it('answers 503 with Retry-After while the orders in progress are at the limit, and takes orders again once one ends', async () => {
    const first = await placeOrder(randomUUID());
    expect(first.status).toBe(202);
    // another instance's order: not admitted here, but in the database's count
    await orders.place({ customerId: 'bob', lines: [{ productId: 'p-2', quantity: 1 }] }, randomUUID());
    await admission.count();

    const refusedKey = randomUUID();
    const refused = await placeOrder(refusedKey);
    expect(refused).toEqual({
      status: 503,
      retryAfter: '1',
      body: {
        statusCode: 503,
        error: 'Service Unavailable',
        message:
          '2 orders are in progress, the most this service takes on at once is 2: send the order again in a second',
      },
    });
    expect(await rowsWithKey(refusedKey)).toBe(0); // refused before anything was written

    // the first order ends (its only line is out of stock): room for one more, once counted
    await outOfStock(first.body.id!);
    await admission.count();
    const again = await placeOrder(refusedKey);
    expect(again.status).toBe(202);
    expect(await rowsWithKey(refusedKey)).toBe(1);
    expect((await placeOrder(randomUUID())).status).toBe(503);
  });
});
