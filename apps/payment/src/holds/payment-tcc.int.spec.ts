import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createMessage, Topics } from '@tcc/contracts';
import type { AnyEnvelope, MessageOfType, PaymentCommand } from '@tcc/contracts';
import { collectOffsetHolds, KafkaConnections, PermanentError, withOffsetHolds } from '@tcc/kafka';
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
import { paymentEntities, paymentMigrations } from '../persistence/schema';
import { WalletsService } from '../wallets/wallets.service';
import { paymentParticipant } from './payment.participant';
import type { PaymentEngine } from './payment.participant';
import { participantContract } from '@tcc/tcc/testing';

/**
 * PaymentTccService and the top-ups against a real PostgreSQL and a real Kafka: the fence, the
 * guards, the sweeper, and the replies as they reach the replies topic.
 */
/** Payment's engine on a data source, sending its replies through `publisher`. */
function engineOn(
  db: DataSource,
  settings: { maxHoldMs: number },
  publisher: DirectPublisher,
): PaymentEngine {
  return new ParticipantEngine(db, paymentParticipant(settings), publisher);
}

describe('payment TCC participant (real PostgreSQL, real Kafka)', () => {
  const settings = { maxHoldMs: 3_600_000, sweepIntervalMs: 1_000 };
  let database: MigratedDatabase;
  let db: DataSource;
  let kafka: KafkaConnections;
  let recorder: TopicRecorder;
  let payment: PaymentEngine;
  let wallets: WalletsService;

  beforeAll(async () => {
    database = await migratedTestDatabase('payment_tcc', paymentEntities, paymentMigrations);
    db = database.db;
    kafka = connections();
    await kafka.onModuleInit();
    recorder = await TopicRecorder.start(testKafka(), kafka.topic(Topics.orderReplies));
    payment = engineOn(db, settings, new DirectPublisher(kafka));
    wallets = new WalletsService(db);
  });

  afterAll(async () => {
    await recorder.stop();
    await kafka.onApplicationShutdown();
    await database.drop();
  });

  /** The service's Kafka client, on topics of this test run's own. */
  let prefix: string | undefined;
  function connections(): KafkaConnections {
    prefix ??= `${uniqueName('payment-tcc')}.`;
    return new KafkaConnections({
      clientId: 'payment-tcc-test',
      brokers: testBrokers(),
      topics: [Topics.orderReplies],
      topicPrefix: prefix,
      topicPartitions: 1,
      replicationFactor: 1,
    });
  }

  /** A payment service whose replies Kafka never acknowledges (its producer is disconnected). */
  async function unheard(): Promise<{ payment: PaymentEngine; close: () => Promise<void> }> {
    const broken = connections();
    await broken.onModuleInit();
    await broken.producer.disconnect();
    const publisher = new DirectPublisher(broken);
    let closed: Promise<void> | undefined;
    return {
      payment: engineOn(db, settings, publisher),
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
        'SELECT replies -> $2::text AS reply FROM holds WHERE order_id = $1',
        [orderId, phase],
      )
    )[0]?.reply;

  async function wallet(balance: number): Promise<string> {
    const id = `c-${randomUUID().slice(0, 8)}`;
    await db.query(
      `INSERT INTO wallets (customer_id, balance, held, captured, topped_up_total) VALUES ($1, $2, 0, 0, $2)`,
      [id, balance],
    );
    return id;
  }

  async function amounts(customerId: string) {
    const [row] = await db.query<
      { balance: number; held: number; captured: number; topped_up_total: number }[]
    >(
      `SELECT balance::float8 AS balance, held::float8 AS held, captured::float8 AS captured,
              topped_up_total::float8 AS topped_up_total
         FROM wallets WHERE customer_id = $1`,
      [customerId],
    );
    return row;
  }

  /** The replies payment sent to Kafka for one order, in order. */
  const replies = (orderId: string): Promise<AnyEnvelope[]> => recorder.envelopes<AnyEnvelope>(orderId);
  /** What the sweeper said (through the outbox) about one order. */
  const events = (orderId: string): Promise<AnyEnvelope[]> => outboxEnvelopes(db, orderId);

  const typesAndReasons = async (orderId: string) =>
    (await replies(orderId)).map((r) => [r.type, (r.payload as { reason?: string }).reason]);

  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

  function tryCommand(
    orderId: string,
    customerId: string,
    amount: number,
    opts: { deadlineMs?: number; holdMs?: number } = {},
  ) {
    return createMessage(
      'PaymentTry',
      {
        orderId,
        customerId,
        amount,
        deadline: soon(opts.deadlineMs ?? 10_000),
        holdUntil: soon(opts.holdMs ?? 60_000),
      },
      { correlationId: orderId },
    );
  }
  const confirm = (orderId: string, customerId: string) =>
    createMessage('PaymentConfirm', { orderId, customerId }, { correlationId: orderId });
  const cancel = (orderId: string, customerId: string) =>
    createMessage('PaymentCancel', { orderId, customerId }, { correlationId: orderId });
  const refund = (orderId: string, customerId: string) =>
    createMessage('PaymentRefund', { orderId, customerId }, { correlationId: orderId });

  it('holds, captures once on confirm, and replays duplicates with the identical reply', async () => {
    const customer = await wallet(10_000);
    const orderId = randomUUID();
    const first: MessageOfType<'PaymentTry'> = tryCommand(orderId, customer, 2_500);
    await payment.handle(first);
    expect(await amounts(customer)).toEqual({
      balance: 7_500,
      held: 2_500,
      captured: 0,
      topped_up_total: 10_000,
    });

    await payment.handle({ ...first, messageId: randomUUID() }); // the same try again (a redelivery)
    const firstConfirm = confirm(orderId, customer);
    await payment.handle(firstConfirm);
    await payment.handle(confirm(orderId, customer));
    expect(await amounts(customer)).toEqual({
      balance: 7_500,
      held: 0,
      captured: 2_500,
      topped_up_total: 10_000,
    });

    const sent = await replies(orderId);
    expect(sent.map((r) => r.type)).toEqual([
      'PaymentHeld',
      'PaymentHeld',
      'PaymentCaptured',
      'PaymentCaptured',
    ]);
    expect(sent[0]?.payload).toMatchObject({ orderId, customerId: customer, amount: 2_500 });
    // the very same reply, message id included, so the order de-duplicates it
    expect(sent[1]).toEqual(sent[0]);
    expect(sent[3]).toEqual(sent[2]);
    expect(sent[0]?.causationId).toBe(first.messageId);
    expect(sent[2]?.causationId).toBe(firstConfirm.messageId);
    expect(sent[2]?.payload).toEqual({ orderId, customerId: customer, amount: 2_500 });

    const hold = await wallets.hold(orderId);
    expect(hold).toMatchObject({ orderId, customerId: customer, amount: 2_500, status: 'CAPTURED' });
    expect(Object.keys(hold?.replies ?? {}).sort()).toEqual(['confirm', 'try']);
  });

  it('bounds the hold by holdUntil and by the maximum hold time', async () => {
    const customer = await wallet(100);
    const short = randomUUID();
    const long = randomUUID();
    const bounded = engineOn(db, { ...settings, maxHoldMs: 5_000 }, new DirectPublisher(kafka));
    const shortTry = tryCommand(short, customer, 10, { holdMs: 2_000 });
    await bounded.handle(shortTry);
    const before = Date.now();
    await bounded.handle(tryCommand(long, customer, 10, { holdMs: 600_000 }));
    const expiresAt = (o: string) =>
      replies(o).then((r) => Date.parse((r[0]?.payload as { expiresAt: string }).expiresAt));
    expect(await expiresAt(short)).toBe(Date.parse(shortTry.payload.holdUntil));
    expect(await expiresAt(long)).toBeGreaterThanOrEqual(before + 5_000);
    expect(await expiresAt(long)).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('rejects a try it cannot serve, as a typed reply, and moves nothing', async () => {
    const customer = await wallet(1_000);
    const [short, unknown, late] = [randomUUID(), randomUUID(), randomUUID()];
    await payment.handle(tryCommand(short, customer, 1_001));
    await payment.handle(tryCommand(unknown, 'no-such-customer', 1));
    await payment.handle(tryCommand(late, customer, 1, { deadlineMs: -1 }));
    expect((await replies(short))[0]).toMatchObject({
      type: 'PaymentRejected',
      payload: { orderId: short, customerId: customer, reason: 'INSUFFICIENT_FUNDS' },
    });
    expect((await replies(unknown))[0]?.payload).toMatchObject({ reason: 'UNKNOWN_WALLET' });
    expect((await replies(late))[0]?.payload).toMatchObject({ reason: 'DEADLINE_PASSED' });
    expect(await amounts(customer)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });

    // a rejected try stays rejected: its redelivery replays the rejection, a cancel releases nothing
    await payment.handle(tryCommand(short, customer, 1_001));
    await payment.handle(cancel(short, customer));
    expect(await typesAndReasons(short)).toEqual([
      ['PaymentRejected', 'INSUFFICIENT_FUNDS'],
      ['PaymentRejected', 'INSUFFICIENT_FUNDS'],
      ['PaymentReleased', undefined],
    ]);
    expect((await replies(short))[2]?.payload).toMatchObject({ released: 0, emptyRollback: false });
    expect(await amounts(customer)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });
  });

  it('remembers a cancel that came before the try and refuses the hanging try', async () => {
    const customer = await wallet(3_000);
    const orderId = randomUUID();
    await payment.handle(cancel(orderId, customer));
    await payment.handle(tryCommand(orderId, customer, 1_000));
    await payment.handle(cancel(orderId, customer));
    expect((await replies(orderId)).map((r) => [r.type, r.payload])).toEqual([
      ['PaymentReleased', { orderId, customerId: customer, released: 0, emptyRollback: true }],
      ['PaymentRejected', { orderId, customerId: customer, reason: 'ALREADY_CANCELLED' }],
      ['PaymentReleased', { orderId, customerId: customer, released: 0, emptyRollback: true }],
    ]);
    expect(await wallets.hold(orderId)).toMatchObject({
      status: 'RELEASED',
      reason: 'EMPTY_ROLLBACK',
      amount: 0,
    });
    expect(await amounts(customer)).toEqual({ balance: 3_000, held: 0, captured: 0, topped_up_total: 3_000 });
  });

  it('releases on cancel, refuses confirm after cancel and cancel after confirm', async () => {
    const customer = await wallet(4_000);
    const cancelled = randomUUID();
    const confirmed = randomUUID();
    await payment.handle(tryCommand(cancelled, customer, 1_000));
    await payment.handle(cancel(cancelled, customer));
    expect(await amounts(customer)).toEqual({ balance: 4_000, held: 0, captured: 0, topped_up_total: 4_000 });
    await payment.handle(confirm(cancelled, customer));
    await payment.handle(tryCommand(confirmed, customer, 1_000));
    await payment.handle(confirm(confirmed, customer));
    await payment.handle(cancel(confirmed, customer));
    expect(await typesAndReasons(cancelled)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentReleased', undefined],
      ['PaymentConfirmRefused', 'CANCELLED'],
    ]);
    expect((await replies(cancelled))[1]?.payload).toMatchObject({ released: 1_000, emptyRollback: false });
    expect(await typesAndReasons(confirmed)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentCaptured', undefined],
      ['PaymentCancelRefused', 'CONFIRMED'],
    ]);
    expect(await amounts(customer)).toEqual({
      balance: 3_000,
      held: 0,
      captured: 1_000,
      topped_up_total: 4_000,
    });
  });

  it('refunds a captured payment once, and refuses to refund one that was never captured', async () => {
    const customer = await wallet(2_000);
    const orderId = randomUUID();
    const onlyHeld = randomUUID();
    await payment.handle(tryCommand(orderId, customer, 1_500));
    await payment.handle(confirm(orderId, customer));
    await payment.handle(refund(orderId, customer));
    await payment.handle(refund(orderId, customer));
    expect(await typesAndReasons(orderId)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentCaptured', undefined],
      ['PaymentRefunded', undefined],
      ['PaymentRefunded', undefined],
    ]);
    expect((await replies(orderId))[2]?.payload).toEqual({ orderId, customerId: customer, amount: 1_500 });
    expect(await amounts(customer)).toEqual({ balance: 2_000, held: 0, captured: 0, topped_up_total: 2_000 });

    await payment.handle(tryCommand(onlyHeld, customer, 500));
    await payment.handle(refund(onlyHeld, customer));
    await payment.handle(refund(randomUUID(), customer));
    expect(await typesAndReasons(onlyHeld)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentRefundRefused', 'NOT_CONFIRMED'],
    ]);
    expect(await amounts(customer)).toEqual({
      balance: 1_500,
      held: 500,
      captured: 0,
      topped_up_total: 2_000,
    });
  });

  it('holds exactly as many orders as the balance covers when one customer races them', async () => {
    const customer = await wallet(1_000);
    const orders = Array.from({ length: 20 }, () => randomUUID());
    // 150 each: the balance covers 6 of them (900), leaving 100
    let lowest = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        lowest = Math.min(lowest, (await amounts(customer))?.balance ?? lowest);
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all(orders.map((o) => payment.handle(tryCommand(o, customer, 150))));
    sampling = false;
    await sampler;
    const outcomes = await Promise.all(orders.map(async (o) => (await replies(o))[0]));
    expect(outcomes.filter((r) => r?.type === 'PaymentHeld')).toHaveLength(6);
    expect(outcomes.filter((r) => r?.type === 'PaymentRejected')).toHaveLength(14);
    expect(
      outcomes
        .filter((r) => r?.type === 'PaymentRejected')
        .every((r) => (r?.payload as { reason: string }).reason === 'INSUFFICIENT_FUNDS'),
    ).toBe(true);
    expect(lowest).toBeGreaterThanOrEqual(0);
    expect(await amounts(customer)).toEqual({ balance: 100, held: 900, captured: 0, topped_up_total: 1_000 });
  });

  it('holds once when the same try is handled twice at the same moment', async () => {
    const customer = await wallet(5_000);
    const orderId = randomUUID();
    const command = tryCommand(orderId, customer, 2_000);
    const results = await Promise.allSettled([
      payment.handle(command),
      payment.handle({ ...command, messageId: randomUUID() }),
    ]);
    // the loser hit the primary key; the transport would retry it, which replays
    for (const r of results) if (r.status === 'rejected') await payment.handle(command);
    expect(await amounts(customer)).toEqual({
      balance: 3_000,
      held: 2_000,
      captured: 0,
      topped_up_total: 5_000,
    });
    expect((await replies(orderId)).map((r) => r.type)).toEqual(['PaymentHeld', 'PaymentHeld']);
  });

  it('lets exactly one of a confirm, a cancel and the sweeper settle a hold they race for', async () => {
    for (let round = 0; round < 20; round++) {
      const customer = await wallet(1_000);
      const orderId = randomUUID();
      await payment.handle(tryCommand(orderId, customer, 400, { holdMs: round % 2 === 0 ? 60_000 : 1 }));
      // each unlocked fast path reads HELD; the writes are guarded, so only one can move it
      await Promise.allSettled([
        payment.handle(confirm(orderId, customer)),
        payment.handle(cancel(orderId, customer)),
        payment.expireOverdue(),
      ]);
      const [hold] = await db.query<{ status: string }[]>('SELECT status FROM holds WHERE order_id = $1', [
        orderId,
      ]);
      expect(['CAPTURED', 'RELEASED', 'EXPIRED']).toContain(hold?.status);
      const captured = hold?.status === 'CAPTURED' ? 400 : 0;
      expect(await amounts(customer)).toEqual({
        balance: 1_000 - captured,
        held: 0,
        captured,
        topped_up_total: 1_000,
      });
    }
  });

  it('dead-letters a command naming another customer than the hold, touching no wallet', async () => {
    const owner = await wallet(1_000);
    const other = await wallet(1_000);
    const orderId = randomUUID();
    await payment.handle(tryCommand(orderId, owner, 400));
    await expect(payment.handle(cancel(orderId, other))).rejects.toBeInstanceOf(PermanentError);
    await expect(payment.handle(confirm(orderId, other))).rejects.toBeInstanceOf(PermanentError);
    expect(await amounts(owner)).toEqual({ balance: 600, held: 400, captured: 0, topped_up_total: 1_000 });
    expect(await amounts(other)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });
    expect((await replies(orderId)).map((r) => r.type)).toEqual(['PaymentHeld']);
  });

  it('holds the offset of a command whose reply Kafka did not acknowledge, and replays the reply when it comes again', async () => {
    const lost = await unheard();
    try {
      const customer = await wallet(1_000);
      const orderId = randomUUID();
      const command = tryCommand(orderId, customer, 300);
      // as the transport runs it: the handler returns once the hold has committed, and the
      // command's offset waits for Kafka's acknowledgement of the reply, which never comes
      const first = await collectOffsetHolds(() => lost.payment.handle(command));
      expect(first.holds).toHaveLength(1);
      expect(await stillPendingAfter(first.holds[0], 300)).toBe(true);
      expect(await amounts(customer)).toEqual({
        balance: 700,
        held: 300,
        captured: 0,
        topped_up_total: 1_000,
      });
      expect(await replies(orderId)).toEqual([]);

      await payment.handle(command); // the same message, after a restart: its offset was never committed
      expect(await amounts(customer)).toEqual({
        balance: 700,
        held: 300,
        captured: 0,
        topped_up_total: 1_000,
      });
      const [held, ...more] = await replies(orderId);
      expect(more).toEqual([]);
      expect(held).toEqual(await storedReply(orderId, 'try'));

      const capture = confirm(orderId, customer);
      const lostCapture = await collectOffsetHolds(() => lost.payment.handle(capture));
      expect(await stillPendingAfter(lostCapture.holds[0], 300)).toBe(true);
      await payment.handle(capture);
      expect(await amounts(customer)).toEqual({
        balance: 700,
        held: 0,
        captured: 300,
        topped_up_total: 1_000,
      });
      const sent = await replies(orderId);
      expect(sent.map((r) => r.type)).toEqual(['PaymentHeld', 'PaymentCaptured']);
      expect(sent[1]).toEqual(await storedReply(orderId, 'confirm'));
      expect(sent[1]?.payload).toMatchObject({ amount: 300 });

      // a stopping publisher gives up: the holds fail, so those offsets are never committed
      await lost.close();
      await expect(first.holds[0]).rejects.toThrow(/stopped before Kafka acknowledged/);
    } finally {
      await lost.close();
    }
  });

  /**
   * Sweeps until the hold of `orderId` has expired (a sweep may take another test's overdue hold
   * first).
   */
  const expired = (orderId: string) =>
    waitFor(
      async () => {
        await payment.expireOverdue();
        return (await wallets.hold(orderId))?.status === 'EXPIRED';
      },
      { description: `the hold of ${orderId} to expire` },
    );

  it('releases expired holds, reports them, and captures on a late confirm only if the balance still covers it', async () => {
    const customer = await wallet(1_000);
    const late = randomUUID();
    const tooLate = randomUUID();
    await payment.handle(tryCommand(late, customer, 1_000, { holdMs: 50 }));
    await expired(late);
    expect(await amounts(customer)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });
    expect((await replies(late)).map((r) => [r.type, r.payload])).toEqual([
      ['PaymentHeld', expect.objectContaining({ amount: 1_000 })],
    ]);
    expect((await events(late)).map((r) => [r.type, r.payload])).toEqual([
      ['PaymentHoldExpired', { orderId: late, customerId: customer, amount: 1_000 }],
    ]);
    expect(await wallets.hold(late)).toMatchObject({ status: 'EXPIRED', reason: 'TTL' });

    await payment.handle(confirm(late, customer)); // the points are still there: captured after all
    expect(await amounts(customer)).toEqual({ balance: 0, held: 0, captured: 1_000, topped_up_total: 1_000 });
    expect((await replies(late))[1]?.type).toBe('PaymentCaptured');

    const other = await wallet(500);
    const taker = randomUUID();
    await payment.handle(tryCommand(tooLate, other, 500, { holdMs: 50 }));
    await expired(tooLate);
    await payment.handle(tryCommand(taker, other, 300)); // another order spends the released points
    await payment.handle(confirm(tooLate, other));
    await payment.handle(confirm(tooLate, other));
    expect(await typesAndReasons(tooLate)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentConfirmRefused', 'EXPIRED'],
      ['PaymentConfirmRefused', 'EXPIRED'],
    ]);
    expect((await events(tooLate)).map((r) => r.type)).toEqual(['PaymentHoldExpired']);
    expect(await amounts(other)).toEqual({ balance: 200, held: 300, captured: 0, topped_up_total: 500 });
  });

  it('expires many holds of one wallet in one sweep and leaves live ones alone', async () => {
    const customer = await wallet(1_000);
    const expiring = [randomUUID(), randomUUID(), randomUUID()];
    const live = randomUUID();
    for (const o of expiring) await payment.handle(tryCommand(o, customer, 100, { holdMs: 30 }));
    await payment.handle(tryCommand(live, customer, 200));
    await waitFor(
      async () => {
        await payment.expireOverdue();
        return (await amounts(customer))?.held === 200;
      },
      { description: "the wallet's three short holds to expire" },
    );
    expect(await amounts(customer)).toEqual({ balance: 800, held: 200, captured: 0, topped_up_total: 1_000 });
    for (const o of expiring) {
      expect((await replies(o)).map((r) => r.type)).toEqual(['PaymentHeld']);
      expect((await events(o)).map((r) => r.type)).toEqual(['PaymentHoldExpired']);
    }
    expect(await wallets.hold(live)).toMatchObject({ status: 'HELD' });
  });

  describe('batch fast path', () => {
    /** A command as the transport hands it to the batch handler. */
    const batched = (envelope: PaymentCommand): BatchedMessage<PaymentCommand> => ({
      envelope,
      within: async (fn) => fn(),
    });
    const batch = (commands: PaymentCommand[]) => payment.handleBatch(commands.map(batched));

    /** One command through its own handler, as the transport sends what the batch did not take. */
    function handleOne(command: PaymentCommand): Promise<void> {
      switch (command.type) {
        case 'PaymentTry':
          return payment.handle(command);
        case 'PaymentConfirm':
          return payment.handle(command);
        case 'PaymentCancel':
          return payment.handle(command);
        case 'PaymentRefund':
          return payment.handle(command);
      }
    }

    /**
     * Consumes commands as the transport consumes a partition: the rest of the run to the batch
     * handler, the first one alone when it takes none. Returns the sizes of the batches written.
     */
    async function consume(commands: PaymentCommand[]): Promise<number[]> {
      const sizes: number[] = [];
      for (let i = 0; i < commands.length;) {
        const handled = await batch(commands.slice(i));
        if (handled > 0) sizes.push(handled);
        else await handleOne(commands[i]!);
        i += Math.max(handled, 1);
      }
      return sizes;
    }

    /** Replaces ids by names, so two runs over different wallets and orders compare equal. */
    function named<T>(value: T, names: Map<string, string>): T {
      let json = JSON.stringify(value);
      for (const [id, name] of names) json = json.replaceAll(id, name);
      return JSON.parse(json) as T;
    }

    /** What a run left behind: wallets, holds and replies (types and payloads), by name. */
    async function outcome(names: Map<string, string>) {
      const ids = [...names.keys()];
      const walletRows = await db.query<unknown[]>(
        `SELECT customer_id, balance::float8 AS balance, held::float8 AS held, captured::float8 AS captured,
                topped_up_total::float8 AS topped_up_total
           FROM wallets WHERE customer_id = ANY($1::text[])`,
        [ids],
      );
      const holdRows = await db.query<unknown[]>(
        `SELECT order_id, customer_id, amount::float8 AS amount, status, reason, expires_at,
                (SELECT jsonb_object_agg(phase, jsonb_build_object('type', r->'type', 'payload', r->'payload'))
                   FROM jsonb_each(replies) AS e(phase, r)) AS replies
           FROM holds WHERE order_id::text = ANY($1::text[])`,
        [ids],
      );
      const sent = (await recorder.envelopes<AnyEnvelope>(...ids)).map((e) => ({
        order_id: (e.payload as { orderId: string }).orderId,
        type: e.type,
        payload: e.payload,
      }));
      const byName = (rows: unknown[]) =>
        named(rows, names).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
      return {
        wallets: byName(walletRows),
        holds: byName(holdRows),
        // replies in the order they were sent, per order
        replies: named(
          sent.map((r) => [r.order_id, r.type, r.payload]),
          names,
        ).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      };
    }

    it('ends in the same wallets, holds and replies as the single-message paths', async () => {
      const deadline = soon(60_000);
      const past = soon(-1_000);
      const holdUntil = soon(120_000); // below maxHoldMs: expiresAt is holdUntil in both runs
      const orders = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9', 'o10'];
      const balances: Record<string, number> = { A: 1_000, B: 300, C: 500 };

      async function run(through: (commands: PaymentCommand[]) => Promise<unknown>) {
        const names = new Map<string, string>();
        const id: Record<string, string> = {};
        for (const [name, balance] of Object.entries(balances)) id[name] = await wallet(balance);
        id.U = `nobody-${randomUUID().slice(0, 8)}`;
        for (const o of orders) id[o] = randomUUID();
        for (const [name, value] of Object.entries(id)) names.set(value, name);
        const t = (o: string, c: string, amount: number, at = deadline) =>
          createMessage(
            'PaymentTry',
            { orderId: id[o]!, customerId: id[c]!, amount, deadline: at, holdUntil },
            { correlationId: id[o]! },
          );
        const commands: PaymentCommand[] = [
          t('o1', 'A', 400),
          t('o2', 'B', 200),
          t('o3', 'A', 500),
          t('o4', 'B', 200), // beyond B's balance
          t('o5', 'U', 50), // unknown wallet
          t('o6', 'C', 100, past), // deadline passed
          t('o7', 'A', 200), // beyond A's balance
          confirm(id.o1!, id.A!),
          cancel(id.o2!, id.B!),
          t('o8', 'B', 300), // covered by what the cancel released
          confirm(id.o3!, id.A!),
          cancel(id.o8!, id.B!),
          t('o9', 'C', 500),
          confirm(id.o9!, id.C!),
          cancel(id.o4!, id.B!), // a rejected hold: nothing to release
          confirm(id.o7!, id.A!), // refused: rejected
          t('o1', 'A', 400), // a duplicate: replayed
          cancel(id.o10!, id.C!), // before any try: empty rollback
          refund(id.o1!, id.A!),
          t('o10', 'C', 10), // after the cancel: rejected
        ];
        const result = await through(commands);
        return { result, outcome: await outcome(names) };
      }

      const single = await run(async (commands) => {
        for (const c of commands) await handleOne(c);
      });
      const batches = await run(consume);
      expect(batches.outcome).toEqual(single.outcome);
      // a run decides every case the single path decides: all 20 in one statement
      expect(batches.result).toEqual([20]);
      expect(single.outcome.wallets).toEqual([
        { customer_id: 'A', balance: 500, held: 0, captured: 500, topped_up_total: 1_000 },
        { customer_id: 'B', balance: 300, held: 0, captured: 0, topped_up_total: 300 },
        { customer_id: 'C', balance: 0, held: 0, captured: 500, topped_up_total: 500 },
      ]);
    });

    it('counts only the charges the balance covers: 3 of 10 tries of 100 on a wallet of 350', async () => {
      const customer = await wallet(350);
      const orders = Array.from({ length: 10 }, () => randomUUID());
      expect(await batch(orders.map((o) => tryCommand(o, customer, 100)))).toBe(10);
      const first = await Promise.all(orders.map(async (o) => (await replies(o))[0]));
      expect(first.map((r) => r?.type)).toEqual([
        ...Array<string>(3).fill('PaymentHeld'),
        ...Array<string>(7).fill('PaymentRejected'),
      ]);
      expect(first.slice(3).map((r) => (r?.payload as { reason: string }).reason)).toEqual(
        Array<string>(7).fill('INSUFFICIENT_FUNDS'),
      );
      expect(await amounts(customer)).toEqual({ balance: 50, held: 300, captured: 0, topped_up_total: 350 });
      const [held] = await db.query<{ sum: number }[]>(
        `SELECT coalesce(sum(amount), 0)::float8 AS sum FROM holds WHERE customer_id = $1 AND status = 'HELD'`,
        [customer],
      );
      expect(held?.sum).toBe(300);
    });

    it('takes a duplicate try, a confirm of an unknown hold and a second command for one hold', async () => {
      const customer = await wallet(1_000);
      const [old, n1, n2, n3, unknown] = Array.from({ length: 5 }, () => randomUUID());
      const oldTry = tryCommand(old!, customer, 100);
      await payment.handle(oldTry);

      const run = [
        tryCommand(n1!, customer, 100),
        tryCommand(n2!, customer, 100),
        oldTry,
        confirm(n1!, customer),
      ];
      expect(await batch(run)).toBe(4);
      const [again, ...rest] = (await replies(old!)).slice(1);
      expect(rest).toEqual([]);
      expect(again).toEqual((await replies(old!))[0]); // replayed, message id included

      const next = [tryCommand(n3!, customer, 100), confirm(unknown!, customer), confirm(n1!, customer)];
      expect(await batch(next)).toBe(3);
      expect(await typesAndReasons(unknown!)).toEqual([['PaymentConfirmRefused', 'NOT_RESERVED']]);
      const n1Replies = await replies(n1!);
      expect(n1Replies.map((r) => r.type)).toEqual(['PaymentHeld', 'PaymentCaptured', 'PaymentCaptured']);
      expect(n1Replies[2]).toEqual(n1Replies[1]); // the duplicate confirm replayed
      // a run of one is a batch too
      expect(await batch(next.slice(2))).toBe(1);
      expect(await amounts(customer)).toEqual({
        balance: 600,
        held: 300,
        captured: 100,
        topped_up_total: 1_000,
      });
    });

    it("gives each reply its own command's traceparent", async () => {
      const customer = await wallet(1_000);
      const orders = [randomUUID(), randomUUID()];
      const spans = orders.map(() => childSpan());
      const messages = orders.map((o, i): BatchedMessage<PaymentCommand> => ({
        envelope: tryCommand(o, customer, 10),
        within: async (fn) => runInTrace(spans[i]!, fn),
      }));
      expect(await payment.handleBatch(messages)).toBe(2);
      const sent = await recorder.sent(...orders);
      expect(sent.map((m) => m.headers['traceparent'])).toEqual(spans.map(formatTraceparent));
    });

    it('holds every offset of a batch whose replies are not acknowledged; the commands again replay them', async () => {
      const lost = await unheard();
      try {
        const customer = await wallet(500);
        const orders = [randomUUID(), randomUUID(), randomUUID()];
        const commands = orders.map((o) => tryCommand(o, customer, 200));
        const holds: Promise<unknown>[][] = commands.map(() => []);
        const messages = commands.map((envelope, i): BatchedMessage<PaymentCommand> => ({
          envelope,
          within: async (fn) => withOffsetHolds(holds[i]!, fn),
        }));
        expect(await lost.payment.handleBatch(messages)).toBe(3);
        expect(holds.map((h) => h.length)).toEqual([1, 1, 1]);
        expect(await stillPendingAfter(holds[0]![0], 300)).toBe(true);
        expect(await amounts(customer)).toEqual({
          balance: 100,
          held: 400,
          captured: 0,
          topped_up_total: 500,
        });
        expect(await recorder.sent(...orders)).toEqual([]);

        // the same commands again, after a restart: the single paths replay the recorded replies
        await consume(commands);
        expect(await amounts(customer)).toEqual({
          balance: 100,
          held: 400,
          captured: 0,
          topped_up_total: 500,
        });
        const sent = await recorder.envelopes<AnyEnvelope>(...orders);
        expect(sent.map((r) => r.type)).toEqual(['PaymentHeld', 'PaymentHeld', 'PaymentRejected']);
        expect(sent).toEqual(await Promise.all(orders.map((o) => storedReply(o, 'try'))));
      } finally {
        await lost.close();
      }
    });

    describe('a batch that lost a race writes nothing', () => {
      /** Runs `work` in a transaction of its own that stays open until `commit` is called. */
      async function openTransaction(
        work: (query: (sql: string, params: unknown[]) => Promise<unknown>) => Promise<void>,
      ) {
        const runner = db.createQueryRunner();
        await runner.connect();
        await runner.startTransaction();
        await work((sql, params) => runner.query(sql, params));
        return async () => {
          await runner.commitTransaction();
          await runner.release();
        };
      }

      /** Waits until some statement of this database waits for a row lock. */
      const blocked = () =>
        waitFor(
          async () => {
            const [row] = await db.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            );
            return (row?.n ?? 0) > 0;
          },
          { description: 'the batch to wait for the lock', intervalMs: 10 },
        );

      it('when a top-up came between its read and its write', async () => {
        const customer = await wallet(500);
        const commands = [tryCommand(randomUUID(), customer, 200), tryCommand(randomUUID(), customer, 200)];
        const commit = await openTransaction((query) =>
          query(
            `UPDATE wallets SET balance = balance + 100, topped_up_total = topped_up_total + 100
              WHERE customer_id = $1`,
            [customer],
          ).then(() => undefined),
        );
        const written = batch(commands);
        await blocked();
        await commit();
        expect(await written).toBe(0);
        for (const c of commands) expect(await replies(c.payload.orderId)).toEqual([]);
        expect(await amounts(customer)).toEqual({ balance: 600, held: 0, captured: 0, topped_up_total: 600 });

        expect(await consume(commands)).toEqual([2]);
        expect(await amounts(customer)).toEqual({
          balance: 200,
          held: 400,
          captured: 0,
          topped_up_total: 600,
        });
      });

      it('when the sweeper expired one of its holds meanwhile', async () => {
        const customer = await wallet(1_000);
        const [expiring, live] = [randomUUID(), randomUUID()];
        await payment.handle(tryCommand(expiring, customer, 100));
        await payment.handle(tryCommand(live, customer, 300));
        const commands = [cancel(expiring, customer), confirm(live, customer)];
        // what the sweeper does, held open: lock the hold, release its points, mark it expired
        const commit = await openTransaction(async (query) => {
          await query(`SELECT 1 FROM holds WHERE order_id = $1 FOR UPDATE`, [expiring]);
          await query(
            `UPDATE wallets SET held = held - 100, balance = balance + 100 WHERE customer_id = $1`,
            [customer],
          );
          await query(`UPDATE holds SET status = 'EXPIRED', reason = 'TTL' WHERE order_id = $1`, [expiring]);
        });
        const written = batch(commands);
        await blocked();
        await commit();
        expect(await written).toBe(0);
        expect(await amounts(customer)).toEqual({
          balance: 700,
          held: 300,
          captured: 0,
          topped_up_total: 1_000,
        });
        expect(await wallets.hold(live)).toMatchObject({ status: 'HELD' });

        await consume(commands);
        expect(await typesAndReasons(expiring)).toEqual([
          ['PaymentHeld', undefined],
          ['PaymentReleased', undefined],
        ]);
        expect((await replies(expiring))[1]?.payload).toMatchObject({ released: 0, emptyRollback: false });
        expect(await amounts(customer)).toEqual({
          balance: 700,
          held: 0,
          captured: 300,
          topped_up_total: 1_000,
        });
      });

      it("when a try's hold appeared meanwhile (a cancel that came first)", async () => {
        const customer = await wallet(500);
        const [cancelled, other] = [randomUUID(), randomUUID()];
        const commands = [tryCommand(cancelled, customer, 100), tryCommand(other, customer, 100)];
        // the row an empty rollback writes, not committed yet when the batch reads
        const commit = await openTransaction(async (query) => {
          await query(
            `INSERT INTO holds (order_id, customer_id, amount, status, reason, replies)
             VALUES ($1, $2, 0, 'RELEASED', 'EMPTY_ROLLBACK', jsonb_build_object('cancel', '{}'::jsonb))`,
            [cancelled, customer],
          );
        });
        const written = batch(commands);
        await blocked();
        await commit();
        expect(await written).toBe(0);
        expect(await replies(other)).toEqual([]);
        expect(await amounts(customer)).toEqual({ balance: 500, held: 0, captured: 0, topped_up_total: 500 });

        expect(await consume(commands)).toEqual([2]);
        expect(await typesAndReasons(cancelled)).toEqual([['PaymentRejected', 'ALREADY_CANCELLED']]);
        expect(await amounts(customer)).toEqual({
          balance: 400,
          held: 100,
          captured: 0,
          topped_up_total: 500,
        });
      });

      it('when two batches for one wallet run at the same time: only one of two charges of 100 counts', async () => {
        for (let round = 0; round < 10; round++) {
          const customer = await wallet(150);
          const runs = [0, 1].map(() => [
            tryCommand(randomUUID(), customer, 100),
            tryCommand(randomUUID(), customer, 20),
          ]);
          const results = await Promise.all(runs.map((r) => batch(r)));
          // each writes all of its run, or (having read before the other wrote) nothing
          for (const r of results) expect([0, 2]).toContain(r);
          expect(results).not.toEqual([0, 0]);
          const after = await amounts(customer);
          expect(after!.balance + after!.held).toBe(150);

          for (const [i, r] of runs.entries()) if (results[i] === 0) await consume(r);
          const first = await Promise.all(
            runs.flat().map(async (c) => (await replies(c.payload.orderId))[0]?.type),
          );
          expect(first.filter((t) => t === 'PaymentHeld')).toHaveLength(3);
          expect(await amounts(customer)).toEqual({
            balance: 10,
            held: 140,
            captured: 0,
            topped_up_total: 150,
          });
        }
      });
    });
  });

  describe('top-ups', () => {
    it('counts two concurrent top-ups with different keys', async () => {
      const customer = await wallet(0);
      const results = await Promise.all([
        wallets.topUp(randomUUID(), customer, 100),
        wallets.topUp(randomUUID(), customer, 100),
      ]);
      expect(results.map((r) => r.kind)).toEqual(['applied', 'applied']);
      expect(results.map((r) => (r.kind === 'applied' ? r.topUp.balance : 0)).sort()).toEqual([100, 200]);
      expect(await amounts(customer)).toEqual({ balance: 200, held: 0, captured: 0, topped_up_total: 200 });
    });

    it('counts a key once, replaying its first answer, even when the requests race', async () => {
      const customer = await wallet(50);
      const key = randomUUID();
      const first = await wallets.topUp(key, customer, 100);
      await wallets.topUp(randomUUID(), customer, 1); // the balance moves on
      const again = await wallets.topUp(key, customer, 100);
      expect(first).toEqual({
        kind: 'applied',
        topUp: { idempotencyKey: key, customerId: customer, amount: 100, balance: 150 },
      });
      expect(again).toEqual({
        kind: 'replayed',
        topUp: { idempotencyKey: key, customerId: customer, amount: 100, balance: 150 },
      });

      const raced = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 10 }, () => wallets.topUp(raced, customer, 1_000)),
      );
      expect(results.filter((r) => r.kind === 'applied')).toHaveLength(1);
      expect(results.filter((r) => r.kind === 'replayed')).toHaveLength(9);
      expect(
        new Set(results.map((r) => (r.kind === 'applied' || r.kind === 'replayed' ? r.topUp.balance : -1))),
      ).toEqual(new Set([1_151]));
      expect(await amounts(customer)).toEqual({
        balance: 1_151,
        held: 0,
        captured: 0,
        topped_up_total: 1_151,
      });
    });

    it('refuses a key reused with another amount or customer', async () => {
      const customer = await wallet(0);
      const someoneElse = await wallet(0);
      const key = randomUUID();
      await wallets.topUp(key, customer, 100);
      expect(await wallets.topUp(key, customer, 101)).toEqual({ kind: 'key-reused' });
      expect(await wallets.topUp(key, someoneElse, 100)).toEqual({ kind: 'key-reused' });
      expect(await amounts(customer)).toEqual({ balance: 100, held: 0, captured: 0, topped_up_total: 100 });
      expect(await amounts(someoneElse)).toEqual({ balance: 0, held: 0, captured: 0, topped_up_total: 0 });
    });

    it('adds nothing to an unknown wallet and leaves its key free', async () => {
      const key = randomUUID();
      expect(await wallets.topUp(key, 'nobody', 100)).toEqual({ kind: 'unknown-wallet' });
      const customer = await wallet(0);
      expect((await wallets.topUp(key, customer, 100)).kind).toBe('applied');
    });

    it('refuses a top-up that would take the total past 2^53 - 1', async () => {
      const customer = await wallet(Number.MAX_SAFE_INTEGER - 10);
      expect(await wallets.topUp(randomUUID(), customer, 11)).toEqual({ kind: 'too-large' });
      expect((await wallets.topUp(randomUUID(), customer, 10)).kind).toBe('applied');
      expect((await amounts(customer))?.topped_up_total).toBe(Number.MAX_SAFE_INTEGER);
    });

    it('creates a wallet once, with its initial balance counted as topped up', async () => {
      const id = `c-${randomUUID().slice(0, 8)}`;
      expect(await wallets.create(id, 700)).toEqual({
        customerId: id,
        balance: 700,
        held: 0,
        captured: 0,
        toppedUpTotal: 700,
      });
      expect(await wallets.create(id, 1)).toBeUndefined();
      expect(await wallets.get(id)).toMatchObject({ balance: 700, toppedUpTotal: 700 });
    });
  });

  participantContract<PaymentCommand>('payment', {
    db: () => db,
    engine: (other) => (other ? engineOn(other, settings, new DirectPublisher(kafka)) : payment),
    branchPerResource: false,
    createResource: async (id, free) =>
      void (await db.query(
        `INSERT INTO wallets (customer_id, balance, held, captured, topped_up_total) VALUES ($1, $2, 0, 0, $2)`,
        [id, free],
      )),
    buckets: async (id) => {
      const a = await amounts(id);
      return { free: a!.balance, held: a!.held, final: a!.captured };
    },
    fences: { table: 'holds', resource: 'customer_id' },
    resources: { table: 'wallets', id: 'customer_id' },
    commands: {
      try: (o, r, n, deadlineMs) => tryCommand(o, r, n, { deadlineMs, holdMs: 120_000 }),
      confirm,
      cancel,
      compensate: refund,
    },
    replies: (...orders) => recorder.envelopes<AnyEnvelope>(...orders),
  });
});
