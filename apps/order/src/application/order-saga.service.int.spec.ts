import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createMessage } from '@tcc/contracts';
import type { AnyEnvelope, OrderReply } from '@tcc/contracts';
import type { BatchedMessage } from '@tcc/kafka';
import { childSpan, runInTrace } from '@tcc/observability';
import { migratedTestDatabase, outboxEnvelopes } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { CommandSender } from '../messaging/command-sender';
import { OrderRepository } from '../persistence/order.repository';
import { orderMigrations } from '../persistence/schema';
import { OrderSagaService } from './order-saga.service';

/** OrderSagaService against a real PostgreSQL: one statement per step, guarded by the order's version. */
describe('order saga persistence (real PostgreSQL)', () => {
  let database: MigratedDatabase;
  let db: DataSource;
  let orders: OrderSagaService;

  beforeAll(async () => {
    database = await migratedTestDatabase('order_saga', [], orderMigrations);
    db = database.db;
    orders = instance();
  });

  /**
   * Another instance of the service on the same database (its own memory of recent orders), without
   * a Kafka publisher: every command is the relay's.
   */
  const instance = () => {
    const sender = new CommandSender();
    return new OrderSagaService(new OrderRepository(db, sender), sender, {
      tryTimeoutMs: 60_000,
      confirmWindowMs: 60_000,
      retryInitialMs: 30_000,
      retryMaxMs: 300_000,
      schedulerIntervalMs: 1_000,
      maxInProgress: 1_000,
      maxLoopDelayMs: 100,
      crashTakeoverMs: 8_000,
    });
  };

  afterAll(async () => {
    await database.drop();
  });

  const request = (customerId = 'alice', quantity = 2) => ({
    customerId,
    lines: [
      { productId: 'p-1', quantity },
      { productId: 'p-2', quantity: 1 },
    ],
  });

  function reply<T extends OrderReply['type']>(
    orderId: string,
    type: T,
    payload: Extract<OrderReply, { type: T }>['payload'],
  ): OrderReply {
    return createMessage(type, payload as never, { correlationId: orderId });
  }

  const reserved = (orderId: string, productId: string, quantity: number, unitPrice: number) =>
    reply(orderId, 'StockReserved', {
      orderId,
      productId,
      quantity,
      unitPrice,
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });

  async function versionOf(orderId: string): Promise<number> {
    const [row] = await db.query<{ version: number }[]>('SELECT version FROM orders WHERE id = $1', [
      orderId,
    ]);
    return row?.version ?? -1;
  }

  it('places an order with its lines, timeline and first command in one go', async () => {
    const placed = await orders.place(request(), randomUUID());
    expect(placed.kind).toBe('created');
    const view = await orders.view(placed.orderId);
    expect(view).toMatchObject({
      status: 'TRYING',
      customerId: 'alice',
      lines: [
        { productId: 'p-1', quantity: 2, state: 'PENDING', unitPrice: null },
        { productId: 'p-2', quantity: 1, state: 'PENDING', unitPrice: null },
      ],
      payment: { state: 'NOT_TRIED' },
    });
    expect(view?.timeline.map((t) => t.state)).toEqual(['trying']);
    // the order the placing statement returned (POST /orders answers with it) is the one stored
    expect(placed.kind === 'created' && placed.order).toEqual(view);
    const sent = await outboxEnvelopes(db, placed.orderId);
    expect(sent.map((m) => [m.type, (m.payload as { productId: string }).productId])).toEqual([
      ['StockTry', 'p-1'],
      ['StockTry', 'p-2'],
    ]);
  });

  it('keeps room on a full page of orders: a reply that leaves the status as it was stays on the page (HOT)', async () => {
    // enough orders to fill the first pages (about 25 rows fit a page without fillfactor)
    const placed = await Promise.all(
      Array.from({ length: 80 }, (_, i) => orders.place(request(`hot-${i}`), `hot-key-${i}`)),
    );
    const pageOf = async (id: string) => {
      const [row] = await db.query<{ page: string }[]>(
        `SELECT (ctid::text::point)[0] AS page FROM orders WHERE id = $1`,
        [id],
      );
      return Number(row?.page);
    };
    const pages = await Promise.all(placed.map((p) => pageOf(p.orderId)));
    const first = placed[pages.indexOf(Math.min(...pages))]!;
    const before = await pageOf(first.orderId);
    expect(pages.filter((p) => p === before).length).toBeGreaterThan(10); // its page is as full as inserts make it

    // one of the two lines reserved: the order stays TRYING, no indexed column changes
    await orders.handleReply(reserved(first.orderId, 'p-1', 2, 500));

    const [row] = await db.query<{ status: string }[]>('SELECT status FROM orders WHERE id = $1', [
      first.orderId,
    ]);
    expect(row?.status).toBe('TRYING');
    expect(await pageOf(first.orderId)).toBe(before);
  });

  it('returns the same order for the same key and body, refuses another body under that key, and keeps keys per customer', async () => {
    const key = randomUUID();
    const first = await orders.place(request(), key);
    expect(await orders.place(request(), key)).toEqual({ kind: 'replayed', orderId: first.orderId });
    expect(await orders.place(request('alice', 3), key)).toEqual({
      kind: 'key-reused',
      orderId: first.orderId,
    });
    // another customer's key is theirs alone: the same key places an order of bob's own
    const bobs = await orders.place(request('bob'), key);
    expect(bobs.kind).toBe('created');
    expect(bobs.orderId).not.toBe(first.orderId);
    const [count] = await db.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1',
      [key],
    );
    expect(count?.n).toBe(2);
    expect(await outboxEnvelopes(db, first.orderId)).toHaveLength(2);
  });

  it('makes one order of concurrent requests with one key', async () => {
    const key = randomUUID();
    const results = await Promise.all(Array.from({ length: 8 }, () => orders.place(request(), key)));
    expect(new Set(results.map((r) => r.orderId)).size).toBe(1);
    expect(results.filter((r) => r.kind === 'created')).toHaveLength(1);
  });

  it('writes concurrent placements together, each order whole with its own commands and trace', async () => {
    const reused = randomUUID();
    const requests = Array.from({ length: 20 }, (_, i) => {
      const span = childSpan();
      // two of them under one key with the same body, and a third under it with another body
      const key = i === 5 || i === 6 || i === 7 ? reused : randomUUID();
      const body =
        i === 6 ? request('customer-5') : i === 7 ? request('customer-5', 3) : request(`customer-${i}`);
      return { span, key, body, placed: runInTrace(span, () => orders.place(body, key)) };
    });
    const results = await Promise.all(requests.map((r) => r.placed));

    const created = results.filter((r) => r.kind === 'created');
    expect(created).toHaveLength(18);
    expect(results.slice(5, 8).map((r) => r.kind)).toEqual(['created', 'replayed', 'key-reused']);
    expect(new Set(results.slice(5, 8).map((r) => r.orderId)).size).toBe(1);
    for (const [i, r] of results.entries()) {
      if (r.kind !== 'created') continue;
      // what POST /orders answers is what was stored, for each order of a shared statement
      const view = await orders.view(r.orderId);
      expect(r.order).toEqual(view);
      expect(view).toMatchObject({ customerId: requests[i]?.body.customerId, status: 'TRYING' });
      expect(view?.lines.map((l) => l.productId)).toEqual(['p-1', 'p-2']);
      expect(view?.timeline.map((t) => t.state)).toEqual(['trying']);
      const rows = await db.query<{ type: string; traceparent: string }[]>(
        `SELECT type, headers->>'traceparent' AS traceparent FROM outbox
          WHERE envelope->>'correlationId' = $1 ORDER BY id`,
        [r.orderId],
      );
      // its own request's trace, not that of the request it shared a statement with
      expect(rows).toEqual([
        { type: 'StockTry', traceparent: expect.stringContaining(requests[i]?.span.traceId ?? '-') },
        { type: 'StockTry', traceparent: expect.stringContaining(requests[i]?.span.traceId ?? '-') },
      ]);
    }
    // fewer statements than orders: the orders of one statement share its transaction's time
    const [times] = await db.query<{ n: number }[]>(
      'SELECT count(DISTINCT created_at)::int AS n FROM orders WHERE id = ANY($1::uuid[])',
      [created.map((r) => r.orderId)],
    );
    expect(times?.n).toBeLessThan(created.length);
  });

  it('applies a reply once: a duplicate (same message id) changes nothing and sends nothing', async () => {
    const { orderId } = await orders.place(request(), randomUUID());
    const first = reserved(orderId, 'p-1', 2, 150);
    await orders.handleReply(first);
    const afterFirst = { view: await orders.view(orderId), version: await versionOf(orderId) };
    const sent = await outboxEnvelopes(db, orderId);

    await orders.handleReply(first);
    expect(await versionOf(orderId)).toBe(afterFirst.version);
    expect(await orders.view(orderId)).toEqual(afterFirst.view);
    expect(await outboxEnvelopes(db, orderId)).toEqual(sent);
    expect(afterFirst.view?.lines[0]).toMatchObject({ productId: 'p-1', state: 'RESERVED', unitPrice: 150 });
  });

  it('applies replies racing for one order each exactly once, the loser reading again', async () => {
    const { orderId } = await orders.place(request(), randomUUID());
    const before = await versionOf(orderId);
    // both stock replies at once: one statement wins the version, the other reads and applies again
    const replies = [reserved(orderId, 'p-1', 2, 100), reserved(orderId, 'p-2', 1, 50)];
    await Promise.all(replies.map((r) => orders.handleReply(r)));
    expect(await versionOf(orderId)).toBe(before + 2);
    const view = await orders.view(orderId);
    expect(view?.lines.map((l) => [l.state, l.unitPrice])).toEqual([
      ['RESERVED', 100],
      ['RESERVED', 50],
    ]);
    const sent = await outboxEnvelopes(db, orderId);
    const tries = sent.filter((m) => m.type === 'PaymentTry');
    expect(tries).toHaveLength(1);
    expect(tries[0]?.payload).toMatchObject({ customerId: 'alice', amount: 250 });
    // the order keeps the id of each reply it applied, once
    const [row] = await db.query<{ applied: string[] }[]>('SELECT applied FROM orders WHERE id = $1', [
      orderId,
    ]);
    expect([...(row?.applied ?? [])].sort()).toEqual(replies.map((r) => r.messageId).sort());
  });

  it('reads an order again when another instance moved it since this one remembered it', async () => {
    const other = instance();
    const { orderId } = await orders.place(request(), randomUUID()); // remembered by `orders`
    await other.handleReply(reserved(orderId, 'p-1', 2, 100)); // `orders` does not know
    await orders.handleReply(reserved(orderId, 'p-2', 1, 50)); // stale copy: loses, reads, applies
    const view = await orders.view(orderId);
    expect(view?.lines.map((l) => [l.state, l.unitPrice])).toEqual([
      ['RESERVED', 100],
      ['RESERVED', 50],
    ]);
    expect((await outboxEnvelopes(db, orderId)).filter((m) => m.type === 'PaymentTry')).toHaveLength(1);
    // and a duplicate of a reply the other instance applied is still skipped here
    const again = reserved(orderId, 'p-1', 2, 100);
    await other.handleReply(again);
    const before = await versionOf(orderId);
    await orders.handleReply(again);
    expect(await versionOf(orderId)).toBe(before);
  });

  it('ignores a reply for an order it does not know', async () => {
    const orderId = randomUUID();
    await orders.handleReply(reserved(orderId, 'p-1', 1, 10));
    expect(await orders.view(orderId)).toBeUndefined();
    expect(await outboxEnvelopes(db, orderId)).toEqual([]);
  });

  it('cancels an order whose try deadline passed, once, from the scheduler', async () => {
    const { orderId } = await orders.place(request(), randomUUID());
    await db.query(`UPDATE orders SET deadline_at = now() - interval '1 second' WHERE id = $1`, [orderId]);
    await orders.expireDeadlines();
    await orders.expireDeadlines();
    const view = await orders.view(orderId);
    expect(view).toMatchObject({ status: 'CANCELLING', reason: 'TIMEOUT' });
    const cancels = (await outboxEnvelopes(db, orderId)).filter((m) => m.type === 'StockCancel');
    expect(cancels.map((m) => (m.payload as { productId: string }).productId).sort()).toEqual(['p-1', 'p-2']);
  });

  describe('a batch of replies (one statement)', () => {
    const batched = (replies: OrderReply[]): BatchedMessage<OrderReply>[] =>
      replies.map((envelope) => ({ envelope, within: async (fn) => fn() }));
    const one = (customerId: string, productId: string) => ({
      customerId,
      lines: [{ productId, quantity: 1 }],
    });

    /** Whole sagas, interleaved as one partition would carry them: a confirm, a cancel, a rejection. */
    function script(a: string, b: string, c: string): OrderReply[] {
      const held = (orderId: string, amount: number) =>
        reply(orderId, 'PaymentHeld', {
          orderId,
          customerId: 'alice',
          amount,
          expiresAt: new Date(Date.now() + 60_000).toISOString(),
        });
      return [
        reserved(a, 'p-1', 1, 100),
        reserved(b, 'p-1', 1, 100),
        reply(c, 'StockRejected', { orderId: c, productId: 'p-2', reason: 'OUT_OF_STOCK' }),
        held(a, 100),
        reply(b, 'PaymentRejected', { orderId: b, customerId: 'alice', reason: 'INSUFFICIENT_FUNDS' }),
        reply(a, 'StockConfirmed', { orderId: a, productId: 'p-1', quantity: 1 }),
        reply(a, 'PaymentCaptured', { orderId: a, customerId: 'alice', amount: 100 }),
        reply(b, 'StockCancelled', { orderId: b, productId: 'p-1', released: 1, emptyRollback: false }),
      ];
    }

    async function place(service: OrderSagaService) {
      const ids = [];
      for (const [customer, product] of [
        ['alice', 'p-1'],
        ['alice', 'p-1'],
        ['alice', 'p-2'],
      ] as const) {
        ids.push((await service.place(one(customer, product), randomUUID())).orderId);
      }
      return ids as [string, string, string];
    }

    /** What an order came to, without the ids and times that differ between two runs. */
    async function outcome(orderId: string) {
      const view = await orders.view(orderId);
      const sent = (await outboxEnvelopes(db, orderId)).map((m: AnyEnvelope) => {
        const { orderId: _, ...payload } = m.payload as { orderId: string };
        return [m.type, payload];
      });
      const result = {
        status: view?.status,
        reason: view?.reason,
        total: view?.total,
        payment: view?.payment,
        lines: view?.lines,
        timeline: view?.timeline.map((t) => [t.participant, t.state, t.detail]),
        version: await versionOf(orderId),
        sent,
      };
      // deadlines differ by the milliseconds between the two placements
      return JSON.parse(JSON.stringify(result).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')) as unknown;
    }

    it('ends every order exactly as the same replies one by one do', async () => {
      const single = await place(orders);
      for (const r of script(...single)) await orders.handleReply(r);

      const fresh = instance(); // its orders are not in memory: read in one query
      const batch = await place(instance());
      expect(await fresh.handleBatch(batched(script(...batch)))).toBe(8);

      for (const [i, id] of batch.entries()) {
        const expected = await outcome(single[i] ?? '');
        expect(await outcome(id)).toEqual(expected);
      }
      const statuses = await Promise.all(batch.map(async (id) => (await orders.view(id))?.status));
      expect(statuses).toEqual(['CONFIRMED', 'CANCELLED', 'CANCELLED']);
    });

    it('writes the replies before one applied already, and leaves that one to the single path', async () => {
      const [a, b] = await place(orders);
      const applied = reserved(b, 'p-1', 1, 100);
      await orders.handleReply(applied);
      const before = await versionOf(b);
      const run = [reserved(a, 'p-1', 1, 100), applied, reserved(a, 'p-9', 1, 5)];
      // `orders` remembers b with the ids applied to it: the run is cut before the duplicate
      expect(await orders.handleBatch(batched(run))).toBe(1);
      expect(await versionOf(b)).toBe(before);
      expect((await orders.view(a))?.lines[0]).toMatchObject({ state: 'RESERVED', unitPrice: 100 });
      // an instance that reads the orders sees it before writing
      expect(await instance().handleBatch(batched([applied, reserved(a, 'p-9', 1, 5)]))).toBe(0);
    });

    it('cuts a run at a reply it carries twice, having written the first', async () => {
      const [a, b] = await place(orders);
      const twice = reserved(a, 'p-1', 1, 100);
      const run = [twice, reserved(b, 'p-1', 1, 100), twice, held(b)];
      expect(await instance().handleBatch(batched(run))).toBe(2);
      expect(await versionOf(a)).toBe(1);
      // the single path then skips the second copy
      await orders.handleReply(twice);
      expect(await versionOf(a)).toBe(1);
      const [row] = await db.query<{ applied: string[] }[]>('SELECT applied FROM orders WHERE id = $1', [a]);
      expect(row?.applied).toEqual([twice.messageId]);
    });

    it('stops at a reply for an unknown order', async () => {
      const [a] = await place(orders);
      const run = [
        reserved(a, 'p-1', 1, 100),
        reserved(randomUUID(), 'p-1', 1, 100),
        reserved(a, 'p-9', 1, 1),
      ];
      expect(await orders.handleBatch(batched(run))).toBe(1);
    });

    it('writes nothing when an order moved since this instance remembered it', async () => {
      const [a, b] = await place(orders); // remembered by `orders`
      await instance().handleReply(reserved(b, 'p-1', 1, 100)); // moved elsewhere
      const versions = [await versionOf(a), await versionOf(b)];
      const run = [reserved(a, 'p-1', 1, 100), held(b)];
      expect(await orders.handleBatch(batched(run))).toBe(0);
      expect([await versionOf(a), await versionOf(b)]).toEqual(versions);
      // the single path then reads them again and applies them
      for (const r of run) await orders.handleReply(r);
      expect((await orders.view(b))?.status).toBe('CONFIRMING');
    });

    function held(orderId: string) {
      return reply(orderId, 'PaymentHeld', {
        orderId,
        customerId: 'alice',
        amount: 100,
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
      });
    }
  });
});
