import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createMessage, Topics } from '@tcc/contracts';
import type { AnyEnvelope, MessageOfType, StockCommand } from '@tcc/contracts';
import { collectOffsetHolds, KafkaConnections, withOffsetHolds } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { childSpan, formatTraceparent, runInTrace } from '@tcc/observability';
import { DirectPublisher } from '@tcc/outbox';
import { ParticipantEngine } from '@tcc/tcc';
import {
  migratedTestDatabase,
  outboxEnvelopes,
  stillPendingAfter,
  testBrokers,
  testKafka,
  TopicRecorder,
  uniqueName,
  waitFor,
} from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { stockEntities, stockMigrations } from '../persistence/schema';
import { stockParticipant } from './stock.participant';
import type { StockEngine } from './stock.participant';
import { participantContract } from '@tcc/tcc/testing';

/**
 * StockTccService against a real PostgreSQL and a real Kafka: the fence, the guards, the sweeper,
 * and the replies as they reach the replies topic.
 */
/** Stock's engine on a data source, sending its replies through `publisher`. */
function engineOn(db: DataSource, settings: { maxHoldMs: number }, publisher: DirectPublisher): StockEngine {
  return new ParticipantEngine(db, stockParticipant(settings), publisher);
}

describe('stock TCC participant (real PostgreSQL, real Kafka)', () => {
  const settings = { maxHoldMs: 3_600_000, sweepIntervalMs: 1_000 };
  let database: MigratedDatabase;
  let db: DataSource;
  let kafka: KafkaConnections;
  let recorder: TopicRecorder;
  let stock: StockEngine;

  beforeAll(async () => {
    database = await migratedTestDatabase('stock_tcc', stockEntities, stockMigrations);
    db = database.db;
    kafka = connections();
    await kafka.onModuleInit();
    recorder = await TopicRecorder.start(testKafka(), kafka.topic(Topics.orderReplies));
    stock = engineOn(db, settings, new DirectPublisher(kafka));
  });

  afterAll(async () => {
    await recorder.stop();
    await kafka.onApplicationShutdown();
    await database.drop();
  });

  /** The service's Kafka client, on topics of this test run's own. */
  let prefix: string | undefined;
  function connections(): KafkaConnections {
    prefix ??= `${uniqueName('stock-tcc')}.`;
    return new KafkaConnections({
      clientId: 'stock-tcc-test',
      brokers: testBrokers(),
      topics: [Topics.orderReplies],
      topicPrefix: prefix,
      topicPartitions: 1,
      replicationFactor: 1,
    });
  }

  async function product(quantity: number, price = 1_000): Promise<string> {
    const id = `p-${randomUUID().slice(0, 8)}`;
    await db.query(
      `INSERT INTO products (id, name, price, available, reserved, sold, stocked_total) VALUES ($1, $1, $2, $3, 0, 0, $3)`,
      [id, price, quantity],
    );
    return id;
  }

  async function quantities(id: string) {
    const [row] = await db.query<
      {
        available: number;
        reserved: number;
        sold: number;
        stocked_total: number;
      }[]
    >('SELECT available, reserved, sold, stocked_total FROM products WHERE id = $1', [id]);
    return row;
  }

  /** The replies stock sent to Kafka for one order, in order. */
  const replies = (orderId: string): Promise<AnyEnvelope[]> => recorder.envelopes<AnyEnvelope>(orderId);
  /** What the sweeper said (through the outbox) about one order. */
  const events = (orderId: string): Promise<AnyEnvelope[]> => outboxEnvelopes(db, orderId);

  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

  function tryCommand(
    orderId: string,
    productId: string,
    quantity: number,
    opts: { deadlineMs?: number; holdMs?: number } = {},
  ) {
    return createMessage(
      'StockTry',
      {
        orderId,
        productId,
        quantity,
        deadline: soon(opts.deadlineMs ?? 10_000),
        holdUntil: soon(opts.holdMs ?? 60_000),
      },
      { correlationId: orderId },
    );
  }
  const confirm = (orderId: string, productId: string) =>
    createMessage('StockConfirm', { orderId, productId }, { correlationId: orderId });
  const cancel = (orderId: string, productId: string) =>
    createMessage('StockCancel', { orderId, productId }, { correlationId: orderId });
  const giveBack = (orderId: string, productId: string) =>
    createMessage('StockReturn', { orderId, productId }, { correlationId: orderId });

  it('reserves with the catalog price, sells once on confirm, and replays duplicates', async () => {
    const id = await product(5, 2_500);
    const orderId = randomUUID();
    const first: MessageOfType<'StockTry'> = tryCommand(orderId, id, 2);
    await stock.handle(first);
    expect(await quantities(id)).toEqual({ available: 3, reserved: 2, sold: 0, stocked_total: 5 });

    await stock.handle({ ...first, messageId: randomUUID() }); // the same try again (a redelivery)
    await stock.handle(confirm(orderId, id));
    await stock.handle(confirm(orderId, id));
    expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 2, stocked_total: 5 });

    const sent = await replies(orderId);
    expect(sent.map((r) => r.type)).toEqual([
      'StockReserved',
      'StockReserved',
      'StockConfirmed',
      'StockConfirmed',
    ]);
    expect(sent[0]?.payload).toMatchObject({ unitPrice: 2_500, quantity: 2 });
    // the very same reply, message id included, so the order de-duplicates it
    expect(sent[1]).toEqual(sent[0]);
    expect(sent[3]).toEqual(sent[2]);
    expect(sent[0]?.causationId).toBe(first.messageId);
  });

  it('rejects a try it cannot serve, as a typed reply', async () => {
    const id = await product(1);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await stock.handle(tryCommand(a, id, 2));
    await stock.handle(tryCommand(b, 'no-such-product', 1));
    await stock.handle(tryCommand(c, id, 1, { deadlineMs: -1 }));
    expect((await replies(a))[0]?.payload).toMatchObject({ reason: 'OUT_OF_STOCK' });
    expect((await replies(b))[0]?.payload).toMatchObject({ reason: 'UNKNOWN_PRODUCT' });
    expect((await replies(c))[0]?.payload).toMatchObject({ reason: 'DEADLINE_PASSED' });
    expect(await quantities(id)).toEqual({ available: 1, reserved: 0, sold: 0, stocked_total: 1 });
  });

  it('remembers a cancel that came before the try and refuses the hanging try', async () => {
    const id = await product(3);
    const orderId = randomUUID();
    await stock.handle(cancel(orderId, id));
    await stock.handle(tryCommand(orderId, id, 1));
    await stock.handle(cancel(orderId, id));
    expect((await replies(orderId)).map((r) => [r.type, r.payload])).toEqual([
      ['StockCancelled', { orderId, productId: id, released: 0, emptyRollback: true }],
      ['StockRejected', { orderId, productId: id, reason: 'ALREADY_CANCELLED' }],
      ['StockCancelled', { orderId, productId: id, released: 0, emptyRollback: true }],
    ]);
    expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 0, stocked_total: 3 });
  });

  it('refuses confirm after cancel and cancel after confirm', async () => {
    const id = await product(4);
    const cancelled = randomUUID();
    const confirmed = randomUUID();
    await stock.handle(tryCommand(cancelled, id, 1));
    await stock.handle(cancel(cancelled, id));
    await stock.handle(confirm(cancelled, id));
    await stock.handle(tryCommand(confirmed, id, 1));
    await stock.handle(confirm(confirmed, id));
    await stock.handle(cancel(confirmed, id));
    expect((await replies(cancelled)).map((r) => r.type)).toEqual([
      'StockReserved',
      'StockCancelled',
      'StockConfirmRefused',
    ]);
    expect((await replies(cancelled))[2]?.payload).toMatchObject({ reason: 'CANCELLED' });
    expect((await replies(confirmed)).map((r) => r.type)).toEqual([
      'StockReserved',
      'StockConfirmed',
      'StockCancelRefused',
    ]);
    expect((await replies(confirmed))[2]?.payload).toMatchObject({ reason: 'CONFIRMED' });
    expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 1, stocked_total: 4 });
  });

  it('takes a confirmed sale back on return', async () => {
    const id = await product(2);
    const orderId = randomUUID();
    await stock.handle(tryCommand(orderId, id, 2));
    await stock.handle(confirm(orderId, id));
    await stock.handle(giveBack(orderId, id));
    await stock.handle(giveBack(orderId, id));
    expect((await replies(orderId)).map((r) => r.type)).toEqual([
      'StockReserved',
      'StockConfirmed',
      'StockReturned',
      'StockReturned',
    ]);
    expect(await quantities(id)).toEqual({ available: 2, reserved: 0, sold: 0, stocked_total: 2 });
  });

  it('never sells more than it has when 100 orders race for 10 items', async () => {
    const id = await product(10);
    const orders = Array.from({ length: 100 }, () => randomUUID());
    await Promise.all(orders.map((o) => stock.handle(tryCommand(o, id, 1))));
    const outcomes = await Promise.all(orders.map(async (o) => (await replies(o))[0]?.type));
    expect(outcomes.filter((t) => t === 'StockReserved')).toHaveLength(10);
    expect(outcomes.filter((t) => t === 'StockRejected')).toHaveLength(90);
    expect(await quantities(id)).toEqual({ available: 0, reserved: 10, sold: 0, stocked_total: 10 });
  });

  it('reserves once when the same try is handled twice at the same moment', async () => {
    const id = await product(5);
    const orderId = randomUUID();
    const command = tryCommand(orderId, id, 2);
    const results = await Promise.allSettled([
      stock.handle(command),
      stock.handle({ ...command, messageId: randomUUID() }),
    ]);
    // the loser hit the primary key; the transport would retry it, which replays
    for (const r of results) if (r.status === 'rejected') await stock.handle(command);
    expect(await quantities(id)).toEqual({ available: 3, reserved: 2, sold: 0, stocked_total: 5 });
    expect((await replies(orderId)).map((r) => r.type)).toEqual(['StockReserved', 'StockReserved']);
  });

  it('lets exactly one of a confirm, a cancel and the sweeper settle a reservation they race for', async () => {
    for (let round = 0; round < 20; round++) {
      const id = await product(3);
      const orderId = randomUUID();
      await stock.handle(tryCommand(orderId, id, 2, { holdMs: round % 2 === 0 ? 60_000 : 1 }));
      // each unlocked fast path reads RESERVED; the writes are guarded, so only one can move it
      await Promise.allSettled([
        stock.handle(confirm(orderId, id)),
        stock.handle(cancel(orderId, id)),
        stock.expireOverdue(),
      ]);
      const q = await quantities(id);
      const [fence] = await db.query<{ status: string }[]>(
        'SELECT status FROM reservations WHERE order_id = $1',
        [orderId],
      );
      expect(q?.reserved).toBe(0);
      expect((q?.available ?? 0) + (q?.sold ?? 0)).toBe(3);
      expect(q?.sold).toBe(fence?.status === 'CONFIRMED' ? 2 : 0);
      expect(['CONFIRMED', 'CANCELLED', 'EXPIRED']).toContain(fence?.status);
    }
  });

  /**
   * Sweeps until the reservations of `orderId` have expired (a sweep may take another test's
   * overdue reservation first).
   */
  const expired = (orderId: string) =>
    waitFor(
      async () => {
        await stock.expireOverdue();
        const rows = await db.query<{ status: string }[]>(
          'SELECT status FROM reservations WHERE order_id = $1',
          [orderId],
        );
        return rows.length > 0 && rows.every((r) => r.status === 'EXPIRED');
      },
      { description: `the reservation of ${orderId} to expire` },
    );

  it('releases expired reservations, reports them, and sells on a late confirm only if stock is left', async () => {
    const id = await product(1);
    const late = randomUUID();
    const tooLate = randomUUID();
    await stock.handle(tryCommand(late, id, 1, { holdMs: 50 }));
    await expired(late);
    expect(await quantities(id)).toEqual({ available: 1, reserved: 0, sold: 0, stocked_total: 1 });
    expect((await replies(late)).map((r) => r.type)).toEqual(['StockReserved']);
    expect((await events(late)).map((r) => r.type)).toEqual(['StockReservationExpired']);

    await stock.handle(confirm(late, id)); // stock is still there: sold after all
    expect(await quantities(id)).toEqual({ available: 0, reserved: 0, sold: 1, stocked_total: 1 });

    const other = await product(1);
    const taker = randomUUID();
    await stock.handle(tryCommand(tooLate, other, 1, { holdMs: 50 }));
    await expired(tooLate);
    await stock.handle(tryCommand(taker, other, 1)); // someone else takes the released item
    await stock.handle(confirm(tooLate, other));
    expect((await replies(tooLate)).map((r) => [r.type, (r.payload as { reason?: string }).reason])).toEqual([
      ['StockReserved', undefined],
      ['StockConfirmRefused', 'EXPIRED'],
    ]);
    expect((await events(tooLate)).map((r) => r.type)).toEqual(['StockReservationExpired']);
    expect(await quantities(other)).toEqual({ available: 0, reserved: 1, sold: 0, stocked_total: 1 });
  });

  /** A stock service whose replies Kafka never acknowledges (its producer is disconnected). */
  async function unheard(): Promise<{ stock: StockEngine; close: () => Promise<void> }> {
    const broken = connections();
    await broken.onModuleInit();
    await broken.producer.disconnect();
    const publisher = new DirectPublisher(broken);
    let closed: Promise<void> | undefined;
    return {
      stock: engineOn(db, settings, publisher),
      close: () =>
        (closed ??= (async () => {
          publisher.onApplicationShutdown();
          await broken.onApplicationShutdown();
        })()),
    };
  }

  const storedReply = async (orderId: string, phase: string) =>
    (
      await db.query<{ reply: AnyEnvelope }[]>(
        'SELECT replies -> $2::text AS reply FROM reservations WHERE order_id = $1',
        [orderId, phase],
      )
    )[0]?.reply;

  it('holds the offset of a command whose reply Kafka did not acknowledge, and replays the reply when it comes again', async () => {
    const lost = await unheard();
    try {
      const id = await product(5, 1_200);
      const orderId = randomUUID();
      const command = tryCommand(orderId, id, 2);
      // as the transport runs it: the handler returns once the reservation has committed, and the
      // command's offset waits for Kafka's acknowledgement of the reply, which never comes
      const first = await collectOffsetHolds(() => lost.stock.handle(command));
      expect(first.holds).toHaveLength(1);
      expect(await stillPendingAfter(first.holds[0], 300)).toBe(true);
      expect(await quantities(id)).toEqual({ available: 3, reserved: 2, sold: 0, stocked_total: 5 });
      expect(await replies(orderId)).toEqual([]);

      await stock.handle(command); // the same message, after a restart: its offset was never committed
      expect(await quantities(id)).toEqual({ available: 3, reserved: 2, sold: 0, stocked_total: 5 });
      const [reserved, ...more] = await replies(orderId);
      expect(more).toEqual([]);
      expect(reserved).toEqual(await storedReply(orderId, 'try'));
      expect(reserved?.payload).toMatchObject({ quantity: 2, unitPrice: 1_200 });

      const sell = confirm(orderId, id);
      const lostSale = await collectOffsetHolds(() => lost.stock.handle(sell));
      expect(await stillPendingAfter(lostSale.holds[0], 300)).toBe(true);
      await stock.handle(sell);
      expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 2, stocked_total: 5 });
      const sent = await replies(orderId);
      expect(sent.map((r) => r.type)).toEqual(['StockReserved', 'StockConfirmed']);
      expect(sent[1]).toEqual(await storedReply(orderId, 'confirm'));
      expect(sent[1]?.payload).toMatchObject({ quantity: 2 });

      // a stopping publisher gives up: the holds fail, so those offsets are never committed
      await lost.close();
      await expect(first.holds[0]).rejects.toThrow(/stopped before Kafka acknowledged/);
    } finally {
      await lost.close();
    }
  });

  describe('batch fast path', () => {
    const batched = (commands: readonly StockCommand[]): BatchedMessage<StockCommand>[] =>
      commands.map((envelope) => ({ envelope, within: async (fn) => fn() }));

    async function single(command: StockCommand): Promise<void> {
      switch (command.type) {
        case 'StockTry':
          return stock.handle(command);
        case 'StockConfirm':
          return stock.handle(command);
        case 'StockCancel':
          return stock.handle(command);
        case 'StockReturn':
          return stock.handle(command);
      }
    }

    /** As the transport does: runs to the batch handler, what it does not take one by one. */
    async function drive(commands: readonly StockCommand[]): Promise<number> {
      let batchedCount = 0;
      for (let i = 0; i < commands.length;) {
        const taken = await stock.handleBatch(batched(commands.slice(i)));
        if (taken === 0) await single(commands[i]!);
        batchedCount += taken;
        i += Math.max(taken, 1);
      }
      return batchedCount;
    }

    const reservationCount = async (orders: string[]) =>
      (
        await db.query<{ n: number }[]>(
          'SELECT count(*)::int AS n FROM reservations WHERE order_id = ANY($1::uuid[])',
          [orders],
        )
      )[0]?.n;

    const sentCount = async (orders: string[]) => (await recorder.sent(...orders)).length;

    /** Someone's transaction holds the row locks of `statements` until `release` commits it. */
    async function holding(...statements: [sql: string, params: unknown[]][]) {
      const runner = db.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      for (const [sql, params] of statements) await runner.query(sql, params);
      return async () => {
        await runner.commitTransaction();
        await runner.release();
      };
    }

    const someoneWaitsForALock = () =>
      waitFor(
        async () =>
          ((
            await db.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          )[0]?.n ?? 0) > 0,
        { description: 'the batch to wait for the lock', timeoutMs: 10_000, intervalMs: 10 },
      );

    /** Three products and a run of 17 commands over them that mixes every case, by name. */
    async function scenario() {
      const products = {
        A: await product(5, 1_000),
        B: await product(2, 2_500),
        C: await product(1, 700),
        X: `no-such-${randomUUID().slice(0, 8)}`,
      };
      const o = Array.from({ length: 10 }, () => randomUUID());
      const [A, B, C, X] = [products.A, products.B, products.C, products.X];
      const commands: StockCommand[] = [
        tryCommand(o[1]!, A, 2), // reserved
        tryCommand(o[2]!, A, 3), // reserved: A is empty now
        tryCommand(o[3]!, A, 1), // OUT_OF_STOCK
        tryCommand(o[1]!, B, 1), // reserved
        tryCommand(o[4]!, B, 5), // OUT_OF_STOCK
        tryCommand(o[5]!, X, 1), // UNKNOWN_PRODUCT
        tryCommand(o[6]!, C, 1, { deadlineMs: -1 }), // DEADLINE_PASSED
        confirm(o[1]!, A), // sold 2 (a new batch: (o1, A) was in the one before)
        cancel(o[2]!, A), // released 3
        tryCommand(o[7]!, A, 3), // reserved from what the cancel released
        confirm(o[1]!, B), // sold 1
        cancel(o[4]!, B), // nothing to release: the single path
        confirm(o[5]!, X), // refused REJECTED: the single path
        tryCommand(o[8]!, C, 1), // reserved
        cancel(o[8]!, C), // released 1
        tryCommand(o[3]!, A, 1), // a new try for an order rejected before: replayed by the single path
        confirm(o[9]!, A), // refused NOT_RESERVED: the single path
      ];
      return { products, orders: o, commands };
    }

    type Scenario = Awaited<ReturnType<typeof scenario>>;

    /** What a scenario left, with its ids replaced by names, so two runs compare. */
    async function outcome({ products, orders, commands }: Scenario) {
      const names = new Map<string, string>([
        ...Object.entries(products).map(([name, id]): [string, string] => [id, name]),
        ...orders.map((id, i): [string, string] => [id, `o${i}`]),
      ]);
      const named = (value: unknown): unknown =>
        typeof value === 'string' ? (names.get(value) ?? value) : value;
      const reply = (envelope: AnyEnvelope) => ({
        type: envelope.type,
        // the command it answers, by position in the run
        cause: commands.findIndex((c) => c.messageId === envelope.causationId),
        correlation: named(envelope.correlationId),
        payload: Object.fromEntries(
          Object.entries(envelope.payload as Record<string, unknown>).map(([k, v]) => [
            k,
            k === 'expiresAt' ? typeof v : named(v),
          ]),
        ),
      });
      const quantitiesByName = Object.fromEntries(
        await Promise.all(
          (['A', 'B', 'C'] as const).map(async (n) => [n, await quantities(products[n])] as const),
        ),
      );
      const reservations = await db.query<
        {
          order_id: string;
          product_id: string;
          quantity: number;
          unit_price: string | null;
          status: string;
          reason: string | null;
          expires: boolean;
          replies: Record<string, AnyEnvelope>;
        }[]
      >(
        `SELECT order_id, product_id, quantity, unit_price, status, reason, expires_at IS NOT NULL AS expires, replies
           FROM reservations WHERE order_id = ANY($1::uuid[])`,
        [orders],
      );
      const sent = await recorder.envelopes<AnyEnvelope>(...orders);
      return {
        quantities: quantitiesByName,
        reservations: reservations
          .map((r) => ({
            ...r,
            order_id: named(r.order_id),
            product_id: named(r.product_id),
            replies: Object.fromEntries(Object.entries(r.replies).map(([phase, e]) => [phase, reply(e)])),
          }))
          .sort((a, b) =>
            `${String(a.order_id)} ${String(a.product_id)}`.localeCompare(
              `${String(b.order_id)} ${String(b.product_id)}`,
            ),
          ),
        replies: sent.map(reply),
      };
    }

    it('ends exactly where the single-message paths end', async () => {
      const one = await scenario();
      for (const command of one.commands) await single(command);
      const batch = await scenario();
      // a run decides every case the single path decides: all 17 in one statement
      expect(await drive(batch.commands)).toBe(17);

      const expected = await outcome(one);
      expect(await outcome(batch)).toEqual(expected);
      // the scenario covers what it says it does
      expect(expected.quantities).toEqual({
        A: { available: 0, reserved: 3, sold: 2, stocked_total: 5 },
        B: { available: 1, reserved: 0, sold: 1, stocked_total: 2 },
        C: { available: 1, reserved: 0, sold: 0, stocked_total: 1 },
      });
      expect(expected.replies.map((r) => [r.type, r.payload['reason']])).toEqual([
        ['StockReserved', undefined],
        ['StockReserved', undefined],
        ['StockRejected', 'OUT_OF_STOCK'],
        ['StockReserved', undefined],
        ['StockRejected', 'OUT_OF_STOCK'],
        ['StockRejected', 'UNKNOWN_PRODUCT'],
        ['StockRejected', 'DEADLINE_PASSED'],
        ['StockConfirmed', undefined],
        ['StockCancelled', undefined],
        ['StockReserved', undefined],
        ['StockConfirmed', undefined],
        ['StockCancelled', undefined],
        ['StockConfirmRefused', 'REJECTED'],
        ['StockReserved', undefined],
        ['StockCancelled', undefined],
        ['StockRejected', 'OUT_OF_STOCK'],
        ['StockConfirmRefused', 'NOT_RESERVED'],
      ]);
    });

    it('reserves the last items and rejects the rest, each reply in its own trace', async () => {
      const id = await product(3);
      const orders = Array.from({ length: 10 }, () => randomUUID());
      const spans = orders.map(() => childSpan());
      const messages: BatchedMessage<StockCommand>[] = orders.map((o, i) => ({
        envelope: tryCommand(o, id, 1),
        within: async (fn) => runInTrace(spans[i]!, fn),
      }));
      expect(await stock.handleBatch(messages)).toBe(10);
      expect(await quantities(id)).toEqual({ available: 0, reserved: 3, sold: 0, stocked_total: 3 });

      const sent = (await recorder.sent<AnyEnvelope>(...orders)).map((m) => ({
        envelope: m.envelope,
        traceparent: m.headers['traceparent'],
      }));
      expect(
        sent.map((r) => [
          r.envelope.correlationId,
          r.envelope.type,
          (r.envelope.payload as { reason?: string }).reason,
        ]),
      ).toEqual(
        orders.map((o, i) =>
          i < 3 ? [o, 'StockReserved', undefined] : [o, 'StockRejected', 'OUT_OF_STOCK'],
        ),
      );
      expect(sent.map((r) => r.traceparent)).toEqual(spans.map(formatTraceparent));
      expect(sent[0]?.envelope.payload).toMatchObject({ quantity: 1, unitPrice: 1_000 });
      expect(sent[0]?.envelope.causationId).toBe(messages[0]?.envelope.messageId);
      const statuses = await db.query<{ status: string; n: number }[]>(
        `SELECT status, count(*)::int AS n FROM reservations WHERE product_id = $1 GROUP BY status ORDER BY status`,
        [id],
      );
      expect(statuses).toEqual([
        { status: 'REJECTED', n: 7 },
        { status: 'RESERVED', n: 3 },
      ]);
    });

    it('takes duplicates, refusals and a second command for one reservation, as the single path ends', async () => {
      const id = await product(5);
      const [o1, o2, o3, o4, unknownOrder] = Array.from({ length: 5 }, () => randomUUID());
      const first = tryCommand(o1!, id, 1);
      const redelivered = { ...first, messageId: randomUUID() };
      expect(await stock.handleBatch(batched([first, tryCommand(o2!, id, 1), redelivered]))).toBe(3);
      expect(await stock.handleBatch(batched([redelivered, tryCommand(o3!, id, 1)]))).toBe(2);
      const [reserved, ...replayed] = await replies(o1!);
      expect(replayed).toEqual([reserved, reserved]);

      const lost = confirm(unknownOrder!, id);
      const o4Try = tryCommand(o4!, id, 1);
      expect(await stock.handleBatch(batched([o4Try, lost, confirm(o4!, id), cancel(o4!, id)]))).toBe(4);
      expect((await replies(unknownOrder!)).map((r) => [r.type, r.payload])).toEqual([
        ['StockConfirmRefused', { orderId: unknownOrder, productId: id, reason: 'NOT_RESERVED' }],
      ]);
      expect((await replies(o4!)).map((r) => r.type)).toEqual([
        'StockReserved',
        'StockConfirmed',
        'StockCancelRefused',
      ]);
      expect(await quantities(id)).toEqual({ available: 1, reserved: 3, sold: 1, stocked_total: 5 });
      expect(await stock.handleBatch(batched([o4Try]))).toBe(1); // a run of one: a replay
      expect(await quantities(id)).toEqual({ available: 1, reserved: 3, sold: 1, stocked_total: 5 });
    });

    it('writes nothing when a restock lands between its read and its write', async () => {
      const id = await product(3);
      const orders = Array.from({ length: 4 }, () => randomUUID());
      const commands = orders.map((o) => tryCommand(o, id, 1));
      const release = await holding([
        'UPDATE products SET available = available + 2, stocked_total = stocked_total + 2 WHERE id = $1',
        [id],
      ]);
      const handled = stock.handleBatch(batched(commands)); // reads 3 available, then waits for the row
      await someoneWaitsForALock();
      await release();
      expect(await handled).toBe(0);
      expect(await quantities(id)).toEqual({ available: 5, reserved: 0, sold: 0, stocked_total: 5 });
      expect(await reservationCount(orders)).toBe(0);
      expect(await sentCount(orders)).toBe(0);

      await drive(commands); // decided again on the restocked product: all four fit now
      expect(await quantities(id)).toEqual({ available: 1, reserved: 4, sold: 0, stocked_total: 5 });
    });

    it('writes nothing when a reservation of its run appears between its read and its write', async () => {
      const id = await product(3);
      const [other, cancelled] = [randomUUID(), randomUUID()];
      const release = await holding([
        `INSERT INTO reservations (order_id, product_id, quantity, status, reason)
         VALUES ($1, $2, 0, 'CANCELLED', 'EMPTY_ROLLBACK')`,
        [cancelled, id],
      ]);
      const handled = stock.handleBatch(batched([tryCommand(other, id, 1), tryCommand(cancelled, id, 1)]));
      await someoneWaitsForALock();
      await release();
      expect(await handled).toBe(0);
      expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 0, stocked_total: 3 });
      expect(await reservationCount([other, cancelled])).toBe(1);
      expect(await sentCount([other, cancelled])).toBe(0);
    });

    it('writes nothing when the sweeper expires a reservation between its read and its write', async () => {
      const id = await product(5);
      const [expiring, other, taker] = [randomUUID(), randomUUID(), randomUUID()];
      await stock.handle(tryCommand(expiring, id, 2));
      await stock.handle(tryCommand(other, id, 1));
      // held open: the sweeper expires one reservation, and another try takes what it released, so
      // the product's quantities are as the batch reads them and only the fence guard can tell
      const release = await holding(
        ['SELECT 1 FROM reservations WHERE order_id = $1 FOR UPDATE', [expiring]],
        ['UPDATE products SET available = available + 2, reserved = reserved - 2 WHERE id = $1', [id]],
        [`UPDATE reservations SET status = 'EXPIRED', reason = 'TTL' WHERE order_id = $1`, [expiring]],
        ['UPDATE products SET available = available - 2, reserved = reserved + 2 WHERE id = $1', [id]],
        [
          `INSERT INTO reservations (order_id, product_id, quantity, status) VALUES ($1, $2, 2, 'RESERVED')`,
          [taker, id],
        ],
      );
      const commands = [cancel(other, id), confirm(expiring, id)];
      const handled = stock.handleBatch(batched(commands)); // reads RESERVED, then waits for the fence
      await someoneWaitsForALock();
      await release();
      expect(await handled).toBe(0);
      expect(await quantities(id)).toEqual({ available: 2, reserved: 3, sold: 0, stocked_total: 5 });
      expect(await sentCount([expiring, other])).toBe(2); // the two StockReserved

      await drive(commands); // the cancel releases, the late confirm takes what is there again
      expect(await quantities(id)).toEqual({ available: 1, reserved: 2, sold: 2, stocked_total: 5 });
      expect((await replies(expiring)).map((r) => r.type)).toEqual(['StockReserved', 'StockConfirmed']);
    });

    it('holds every offset of a batch whose replies are not acknowledged; the commands again replay them', async () => {
      const lost = await unheard();
      try {
        const id = await product(2, 900);
        const orders = Array.from({ length: 3 }, () => randomUUID());
        const commands = orders.map((o) => tryCommand(o, id, 1));
        const holds: Promise<unknown>[][] = commands.map(() => []);
        const messages = commands.map((envelope, i): BatchedMessage<StockCommand> => ({
          envelope,
          within: async (fn) => withOffsetHolds(holds[i]!, fn),
        }));
        expect(await lost.stock.handleBatch(messages)).toBe(3);
        expect(holds.map((h) => h.length)).toEqual([1, 1, 1]);
        expect(await stillPendingAfter(holds[0]![0], 300)).toBe(true);
        expect(await quantities(id)).toEqual({ available: 0, reserved: 2, sold: 0, stocked_total: 2 });
        expect(await sentCount(orders)).toBe(0);

        // the same commands again, after a restart: the batch stops at the first duplicate, and
        // the single paths replay
        await drive(commands);
        expect(await quantities(id)).toEqual({ available: 0, reserved: 2, sold: 0, stocked_total: 2 });
        const sent = await recorder.envelopes<AnyEnvelope>(...orders);
        expect(sent.map((r) => r.type)).toEqual(['StockReserved', 'StockReserved', 'StockRejected']);
        expect(sent).toEqual(await Promise.all(orders.map((o) => storedReply(o, 'try'))));
      } finally {
        await lost.close();
      }
    });

    it('lets one of two batches racing for a product write, and the totals stay right', async () => {
      for (let round = 0; round < 10; round++) {
        const id = await product(4);
        const runs = [0, 1].map(() => Array.from({ length: 3 }, () => tryCommand(randomUUID(), id, 1)));
        const taken = await Promise.all(runs.map((run) => stock.handleBatch(batched(run))));
        // each batch wrote all of its run or nothing; the one that lost a race wrote nothing
        expect(taken.every((n) => n === 0 || n === 3)).toBe(true);
        expect(Math.max(...taken)).toBe(3);
        // the transport then hands what a batch did not take to the single path
        for (const [i, run] of runs.entries()) await drive(run.slice(taken[i]));
        expect(await quantities(id)).toEqual({ available: 0, reserved: 4, sold: 0, stocked_total: 4 });
        const outcomes = await Promise.all(
          runs.flat().map(async (c) => (await replies(c.payload.orderId)).map((r) => r.type)),
        );
        expect(outcomes.filter((t) => t.join() === 'StockReserved')).toHaveLength(4);
        expect(outcomes.filter((t) => t.join() === 'StockRejected')).toHaveLength(2);
      }
    });
  });

  participantContract<StockCommand>('stock', {
    db: () => db,
    engine: (other) => (other ? engineOn(other, settings, new DirectPublisher(kafka)) : stock),
    branchPerResource: true,
    createResource: async (id, free) =>
      void (await db.query(
        `INSERT INTO products (id, name, price, available, reserved, sold, stocked_total) VALUES ($1, $1, 100, $2, 0, 0, $2)`,
        [id, free],
      )),
    buckets: async (id) => {
      const q = await quantities(id);
      return { free: q!.available, held: q!.reserved, final: q!.sold };
    },
    fences: { table: 'reservations', resource: 'product_id' },
    resources: { table: 'products', id: 'id' },
    commands: {
      try: (o, r, n, deadlineMs) => tryCommand(o, r, n, { deadlineMs, holdMs: 120_000 }),
      confirm,
      cancel,
      compensate: giveBack,
    },
    replies: (...orders) => recorder.envelopes<AnyEnvelope>(...orders),
  });
});
