import { randomUUID } from 'node:crypto';
import { Stack } from './support/stack';

/**
 * The saga end to end: the three services as processes, real Kafka, real PostgreSQL, driven only
 * through their REST APIs.
 */
describe('TCC order saga, end to end', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start('saga');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const order = (customerId: string, lines: [string, number][]) => ({
    customerId,
    lines: lines.map(([productId, quantity]) => ({ productId, quantity })),
  });

  async function place(customerId: string, lines: [string, number][]) {
    const res = await stack.placeOrder(order(customerId, lines));
    expect(res.status).toBe(202);
    return stack.finalOrder(res.body.id);
  }

  describe('outcomes', () => {
    it('happy path: CONFIRMED, stock sold once, nothing left reserved, the wallet debited once', async () => {
      const product = await stack.createProduct(5, 1_250);
      const customer = await stack.openWallet(10_000);
      const res = await stack.placeOrder(order(customer, [[product, 2]]));
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBe(`/orders/${res.body.id}`);
      expect(res.body.status).toBe('TRYING');

      const done = await stack.finalOrder(res.body.id);
      expect(done).toMatchObject({
        status: 'CONFIRMED',
        reason: null,
        total: 2_500,
        lines: [{ productId: product, quantity: 2, unitPrice: 1_250, state: 'CONFIRMED' }],
        payment: { state: 'CONFIRMED' },
      });
      expect(await stack.product(product)).toMatchObject({
        available: 3,
        reserved: 0,
        sold: 2,
        stockedTotal: 5,
      });
      expect(await stack.wallet(customer)).toMatchObject({
        balance: 7_500,
        held: 0,
        captured: 2_500,
        toppedUpTotal: 10_000,
      });

      const steps = done.timeline.map((t) => `${t.participant} ${t.state}`);
      expect(steps).toEqual([
        'order trying',
        `stock:${product} tried`,
        'payment tried',
        'order confirming',
        expect.stringMatching(/^(stock:.+|payment) confirmed$/),
        expect.stringMatching(/^(stock:.+|payment) confirmed$/),
        'order confirmed',
      ]);
      for (const t of done.timeline) expect(Date.parse(t.at)).not.toBeNaN();
    });

    it('out of stock: CANCELLED, stock unchanged, payment never held', async () => {
      const product = await stack.createProduct(1, 100);
      const customer = await stack.openWallet(1_000);
      const done = await place(customer, [[product, 2]]);
      expect(done).toMatchObject({
        status: 'CANCELLED',
        reason: 'OUT_OF_STOCK',
        reasonDetail: `${product}: OUT_OF_STOCK`,
      });
      expect(await stack.product(product)).toMatchObject({ available: 1, reserved: 0, sold: 0 });
      expect(await stack.wallet(customer)).toMatchObject({ balance: 1_000, held: 0, captured: 0 });
    });

    it('insufficient funds: CANCELLED, the reserved stock released', async () => {
      const product = await stack.createProduct(3, 700);
      const customer = await stack.openWallet(500);
      const done = await place(customer, [[product, 1]]);
      expect(done).toMatchObject({
        status: 'CANCELLED',
        reason: 'INSUFFICIENT_FUNDS',
        lines: [{ state: 'CANCELLED' }],
      });
      expect(await stack.product(product)).toMatchObject({ available: 3, reserved: 0, sold: 0 });
      expect(await stack.wallet(customer)).toMatchObject({ balance: 500, held: 0, captured: 0 });
    });

    it('unknown product: CANCELLED with that reason', async () => {
      const customer = await stack.openWallet(1_000);
      const done = await place(customer, [['no-such-product', 1]]);
      expect(done).toMatchObject({
        status: 'CANCELLED',
        reason: 'UNKNOWN_PRODUCT',
        reasonDetail: 'no-such-product: UNKNOWN_PRODUCT',
      });
    });

    it('a multi-line order where one line fails releases every line', async () => {
      const [a, b, c] = [
        await stack.createProduct(5, 100),
        await stack.createProduct(0, 100),
        await stack.createProduct(5, 100),
      ];
      const customer = await stack.openWallet(10_000);
      const done = await place(customer, [
        [a, 2],
        [b, 1],
        [c, 3],
      ]);
      expect(done).toMatchObject({
        status: 'CANCELLED',
        reason: 'OUT_OF_STOCK',
        reasonDetail: `${b}: OUT_OF_STOCK`,
      });
      for (const [id, total] of [
        [a, 5],
        [b, 0],
        [c, 5],
      ] as const) {
        expect(await stack.product(id)).toMatchObject({ available: total, reserved: 0, sold: 0 });
      }
      expect(await stack.wallet(customer)).toMatchObject({ balance: 10_000, held: 0 });
    });

    it('a multi-line order confirms only when every line and the payment were reserved', async () => {
      const [a, b] = [await stack.createProduct(5, 300), await stack.createProduct(5, 200)];
      const customer = await stack.openWallet(10_000);
      const done = await place(customer, [
        [a, 1],
        [b, 2],
        [a, 1], // the same product twice is one line of 2
      ]);
      expect(done).toMatchObject({ status: 'CONFIRMED', total: 2 * 300 + 2 * 200 });
      expect(done.lines.map((l) => [l.productId, l.quantity, l.state])).toEqual([
        [a, 2, 'CONFIRMED'],
        [b, 2, 'CONFIRMED'],
      ]);
      expect(await stack.wallet(customer)).toMatchObject({ balance: 9_000, captured: 1_000 });
    });
  });

  describe('concurrency', () => {
    it('the last item: of 120 concurrent orders for 10 in stock, exactly 10 are CONFIRMED and stock never goes below 0', async () => {
      const product = await stack.createProduct(10, 500);
      const customers = await Promise.all(Array.from({ length: 120 }, () => stack.openWallet(10_000)));
      let lowest = Infinity;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const p = await stack.product(product);
          lowest = Math.min(lowest, p.available, p.reserved);
        }
      })();
      const accepted = await Promise.all(customers.map((c) => stack.placeOrder(order(c, [[product, 1]]))));
      expect(accepted.map((r) => r.status)).toEqual(customers.map(() => 202));
      const finals = await Promise.all(accepted.map((r) => stack.finalOrder(r.body.id, 120_000)));
      sampling = false;
      await sampler;

      expect(finals.filter((o) => o.status === 'CONFIRMED')).toHaveLength(10);
      expect(finals.filter((o) => o.status === 'CANCELLED').every((o) => o.reason === 'OUT_OF_STOCK')).toBe(
        true,
      );
      expect(await stack.product(product)).toMatchObject({
        available: 0,
        reserved: 0,
        sold: 10,
        stockedTotal: 10,
      });
      expect(lowest).toBeGreaterThanOrEqual(0);
      const captured = await Promise.all(customers.map(async (c) => (await stack.wallet(c)).captured));
      expect(captured.filter((x) => x === 500)).toHaveLength(10);
      expect(captured.filter((x) => x !== 0 && x !== 500)).toEqual([]);
    });

    it('one customer, many concurrent orders: exactly as many CONFIRMED as the balance covers, never below 0', async () => {
      const product = await stack.createProduct(100, 1_000);
      const customer = await stack.openWallet(3_500);
      const accepted = await Promise.all(
        Array.from({ length: 10 }, () => stack.placeOrder(order(customer, [[product, 1]]))),
      );
      const finals = await Promise.all(accepted.map((r) => stack.finalOrder(r.body.id)));
      expect(finals.filter((o) => o.status === 'CONFIRMED')).toHaveLength(3);
      expect(finals.filter((o) => o.status === 'CANCELLED').map((o) => o.reason)).toEqual(
        Array(7).fill('INSUFFICIENT_FUNDS'),
      );
      expect(await stack.wallet(customer)).toMatchObject({ balance: 500, held: 0, captured: 3_000 });
      expect(await stack.product(product)).toMatchObject({ available: 97, reserved: 0, sold: 3 });
    });

    it('concurrent top-ups all count; a repeated key counts once', async () => {
      const customer = await stack.openWallet(0);
      const distinct = await Promise.all(
        Array.from({ length: 20 }, () =>
          stack.http(
            'payment',
            'POST',
            `/wallets/${customer}/top-ups`,
            { amount: 100 },
            { 'idempotency-key': randomUUID() },
          ),
        ),
      );
      expect(distinct.map((r) => r.status)).toEqual(Array(20).fill(201));
      const key = randomUUID();
      const repeated = await Promise.all(
        Array.from({ length: 10 }, () =>
          stack.http(
            'payment',
            'POST',
            `/wallets/${customer}/top-ups`,
            { amount: 100 },
            { 'idempotency-key': key },
          ),
        ),
      );
      expect(repeated.filter((r) => r.status === 201)).toHaveLength(1);
      expect(repeated.filter((r) => r.status === 200)).toHaveLength(9);
      expect(await stack.wallet(customer)).toMatchObject({ balance: 2_100, toppedUpTotal: 2_100 });
    });
  });

  describe('POST /orders is idempotent', () => {
    it('the same key and body return the same order; another body is refused', async () => {
      const product = await stack.createProduct(5, 100);
      const customer = await stack.openWallet(1_000);
      const key = randomUUID();
      const first = await stack.placeOrder(order(customer, [[product, 1]]), key);
      const again = await stack.placeOrder(order(customer, [[product, 1]]), key);
      expect(first.status).toBe(202);
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(first.body.id);
      expect(again.headers.get('idempotent-replayed')).toBe('true');

      const other = await stack.placeOrder(order(customer, [[product, 2]]), key);
      expect(other.status).toBe(422);
      expect(other.body).toMatchObject({
        statusCode: 422,
        message: `Idempotency-Key "${key}" was already used with a different request (order ${first.body.id})`,
      });
      await stack.finalOrder(first.body.id);
      expect(await stack.product(product)).toMatchObject({ sold: 1 });
    });

    it('concurrent requests with one key make one order', async () => {
      const product = await stack.createProduct(50, 10);
      const customer = await stack.openWallet(1_000);
      const key = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 10 }, () => stack.placeOrder(order(customer, [[product, 1]]), key)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(202));
      expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
      await stack.finalOrder(results[0]?.body.id ?? '');
      expect(await stack.product(product)).toMatchObject({ available: 49, sold: 1 });
      const rows = await stack.query<{ count: string }>(
        'order',
        'SELECT count(*) FROM orders WHERE idempotency_key = $1',
        [key],
      );
      expect(rows[0]?.count).toBe('1');
    });
  });

  describe('bad input gets a 4xx that says what is wrong', () => {
    const valid = { customerId: 'c-1', lines: [{ productId: 'p-1', quantity: 1 }] };

    it.each([
      ['no Idempotency-Key', valid, null, 400, /Idempotency-Key header is required/],
      ['a body that is not JSON', '{"customerId": ', 'k1', 400, /JSON/i],
      ['no lines', { customerId: 'c-1', lines: [] }, 'k2', 400, /lines: an order needs at least one line/],
      [
        'a zero quantity',
        { customerId: 'c-1', lines: [{ productId: 'p', quantity: 0 }] },
        'k3',
        400,
        /lines\.0\.quantity/,
      ],
      [
        'a fractional quantity',
        { customerId: 'c-1', lines: [{ productId: 'p', quantity: 1.5 }] },
        'k4',
        400,
        /lines\.0\.quantity/,
      ],
      [
        'a client-side price',
        { ...valid, lines: [{ productId: 'p', quantity: 1, price: 1 }] },
        'k5',
        400,
        /price/,
      ],
      ['a bad customer id', { customerId: 'a b', lines: valid.lines }, 'k6', 400, /customerId/],
      [
        'a bad product id',
        { customerId: 'c-1', lines: [{ productId: 'a b', quantity: 1 }] },
        'k7',
        400,
        /lines\.0\.productId/,
      ],
    ] as [string, unknown, string | null, number, RegExp][])(
      '%s',
      async (_what, body, key, status, message) => {
        const res = await stack.placeOrder(body, key);
        expect(res.status).toBe(status);
        expect((res.body as unknown as { message: string }).message).toMatch(message);
      },
    );

    it('a body too large, of another type, or in another charset: 413, 400 naming the problem, 415', async () => {
      const headers = (type: string) => ({ 'idempotency-key': randomUUID(), 'content-type': type });
      const big = await stack.http(
        'order',
        'POST',
        '/orders',
        { ...valid, pad: 'x'.repeat(100 * 1024) },
        headers('application/json'),
      );
      expect(big).toMatchObject({
        status: 413,
        body: { statusCode: 413, message: expect.stringContaining(String(100 * 1024)) },
      });
      const text = await stack.http('order', 'POST', '/orders', JSON.stringify(valid), headers('text/plain'));
      expect(text).toMatchObject({
        status: 400,
        body: { message: expect.stringMatching(/^invalid request body: \(root\): .*expected object/) },
      });
      const latin1 = await stack.http(
        'order',
        'POST',
        '/orders',
        valid,
        headers('application/json; charset=latin1'),
      );
      expect(latin1).toMatchObject({
        status: 415,
        body: { statusCode: 415, message: expect.stringMatching(/charset "latin1"/i) },
      });
    });

    it('GET /orders/:id: 400 for a malformed id, 404 for an unknown one', async () => {
      const malformed = await stack.http<{ message: string }>('order', 'GET', '/orders/not-a-uuid');
      expect(malformed.status).toBe(400);
      expect(malformed.body.message).toMatch(/order id/);
      const unknown = randomUUID();
      const missing = await stack.http<{ message: string }>('order', 'GET', `/orders/${unknown}`);
      expect(missing).toMatchObject({ status: 404, body: { message: `order ${unknown} does not exist` } });
    });

    it('stock and payment: duplicates are 409, unknown ones 404, bad bodies 400, reused keys 422', async () => {
      const product = await stack.createProduct(1, 1);
      expect(
        (await stack.http('stock', 'POST', '/products', { id: product, name: 'x', price: 1, quantity: 1 }))
          .status,
      ).toBe(409);
      expect((await stack.http('stock', 'GET', '/products/nope')).status).toBe(404);
      expect(
        (await stack.http('stock', 'POST', '/products', { id: 'x', name: 'x', price: -1, quantity: 1 }))
          .status,
      ).toBe(400);
      expect(
        (await stack.http('stock', 'POST', `/products/${product}/restock`, { quantity: 0 })).status,
      ).toBe(400);
      const customer = await stack.openWallet(0);
      expect((await stack.http('payment', 'POST', '/wallets', { customerId: customer })).status).toBe(409);
      expect((await stack.http('payment', 'GET', '/wallets/nobody')).status).toBe(404);
      const topUp = (amount: unknown, key?: string) =>
        stack.http(
          'payment',
          'POST',
          `/wallets/${customer}/top-ups`,
          { amount },
          key ? { 'idempotency-key': key } : {},
        );
      expect((await topUp(100)).status).toBe(400);
      expect((await topUp(-5, 'k')).status).toBe(400);
      expect((await topUp(100, 'same')).status).toBe(201);
      expect((await topUp(200, 'same')).status).toBe(422);
    });
  });
});
