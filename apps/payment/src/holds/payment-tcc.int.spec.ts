import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createMessage } from '@tcc/contracts';
import type { AnyEnvelope, MessageOfType } from '@tcc/contracts';
import { PermanentError } from '@tcc/kafka';
import { migratedTestDatabase, outboxEnvelopes, waitFor } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { paymentEntities, paymentMigrations } from '../persistence/schema';
import { WalletsService } from '../wallets/wallets.service';
import { PaymentTccService } from './payment-tcc.service';

/** PaymentTccService and the top-ups against a real PostgreSQL: the fence, the guards and the sweeper. */
describe('payment TCC participant (real PostgreSQL)', () => {
  let database: MigratedDatabase;
  let db: DataSource;
  let payment: PaymentTccService;
  let wallets: WalletsService;

  beforeAll(async () => {
    database = await migratedTestDatabase('payment_tcc', paymentEntities, paymentMigrations);
    db = database.db;
    payment = new PaymentTccService(db, { maxHoldMs: 3_600_000, sweepIntervalMs: 1_000 });
    wallets = new WalletsService(db);
  });

  afterAll(async () => {
    await database.drop();
  });

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

  const replies = (orderId: string): Promise<AnyEnvelope[]> => outboxEnvelopes(db, orderId);

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
    await payment.try(first);
    expect(await amounts(customer)).toEqual({
      balance: 7_500,
      held: 2_500,
      captured: 0,
      topped_up_total: 10_000,
    });

    await payment.try({ ...first, messageId: randomUUID() }); // the same try again (a redelivery)
    const firstConfirm = confirm(orderId, customer);
    await payment.confirm(firstConfirm);
    await payment.confirm(confirm(orderId, customer));
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
    const bounded = new PaymentTccService(db, { maxHoldMs: 5_000, sweepIntervalMs: 1_000 });
    const shortTry = tryCommand(short, customer, 10, { holdMs: 2_000 });
    await bounded.try(shortTry);
    const before = Date.now();
    await bounded.try(tryCommand(long, customer, 10, { holdMs: 600_000 }));
    const expiresAt = (o: string) =>
      replies(o).then((r) => Date.parse((r[0]?.payload as { expiresAt: string }).expiresAt));
    expect(await expiresAt(short)).toBe(Date.parse(shortTry.payload.holdUntil));
    expect(await expiresAt(long)).toBeGreaterThanOrEqual(before + 5_000);
    expect(await expiresAt(long)).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('rejects a try it cannot serve, as a typed reply, and moves nothing', async () => {
    const customer = await wallet(1_000);
    const [short, unknown, late] = [randomUUID(), randomUUID(), randomUUID()];
    await payment.try(tryCommand(short, customer, 1_001));
    await payment.try(tryCommand(unknown, 'no-such-customer', 1));
    await payment.try(tryCommand(late, customer, 1, { deadlineMs: -1 }));
    expect((await replies(short))[0]).toMatchObject({
      type: 'PaymentRejected',
      payload: { orderId: short, customerId: customer, reason: 'INSUFFICIENT_FUNDS' },
    });
    expect((await replies(unknown))[0]?.payload).toMatchObject({ reason: 'UNKNOWN_WALLET' });
    expect((await replies(late))[0]?.payload).toMatchObject({ reason: 'DEADLINE_PASSED' });
    expect(await amounts(customer)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });

    // a rejected try stays rejected: its redelivery replays the rejection, a cancel releases nothing
    await payment.try(tryCommand(short, customer, 1_001));
    await payment.cancel(cancel(short, customer));
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
    await payment.cancel(cancel(orderId, customer));
    await payment.try(tryCommand(orderId, customer, 1_000));
    await payment.cancel(cancel(orderId, customer));
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
    await payment.try(tryCommand(cancelled, customer, 1_000));
    await payment.cancel(cancel(cancelled, customer));
    expect(await amounts(customer)).toEqual({ balance: 4_000, held: 0, captured: 0, topped_up_total: 4_000 });
    await payment.confirm(confirm(cancelled, customer));
    await payment.try(tryCommand(confirmed, customer, 1_000));
    await payment.confirm(confirm(confirmed, customer));
    await payment.cancel(cancel(confirmed, customer));
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
    await payment.try(tryCommand(orderId, customer, 1_500));
    await payment.confirm(confirm(orderId, customer));
    await payment.refund(refund(orderId, customer));
    await payment.refund(refund(orderId, customer));
    expect(await typesAndReasons(orderId)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentCaptured', undefined],
      ['PaymentRefunded', undefined],
      ['PaymentRefunded', undefined],
    ]);
    expect((await replies(orderId))[2]?.payload).toEqual({ orderId, customerId: customer, amount: 1_500 });
    expect(await amounts(customer)).toEqual({ balance: 2_000, held: 0, captured: 0, topped_up_total: 2_000 });

    await payment.try(tryCommand(onlyHeld, customer, 500));
    await payment.refund(refund(onlyHeld, customer));
    await payment.refund(refund(randomUUID(), customer));
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
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    await Promise.all(orders.map((o) => payment.try(tryCommand(o, customer, 150))));
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
      payment.try(command),
      payment.try({ ...command, messageId: randomUUID() }),
    ]);
    // the loser hit the primary key; the transport would retry it, which replays
    for (const r of results) if (r.status === 'rejected') await payment.try(command);
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
      await payment.try(tryCommand(orderId, customer, 400, { holdMs: round % 2 === 0 ? 60_000 : 1 }));
      // each unlocked fast path reads HELD; the writes are guarded, so only one can move it
      await Promise.allSettled([
        payment.confirm(confirm(orderId, customer)),
        payment.cancel(cancel(orderId, customer)),
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
    await payment.try(tryCommand(orderId, owner, 400));
    await expect(payment.cancel(cancel(orderId, other))).rejects.toBeInstanceOf(PermanentError);
    await expect(payment.confirm(confirm(orderId, other))).rejects.toBeInstanceOf(PermanentError);
    expect(await amounts(owner)).toEqual({ balance: 600, held: 400, captured: 0, topped_up_total: 1_000 });
    expect(await amounts(other)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });
    expect((await replies(orderId)).map((r) => r.type)).toEqual(['PaymentHeld']);
  });

  it('releases expired holds, reports them, and captures on a late confirm only if the balance still covers it', async () => {
    const customer = await wallet(1_000);
    const late = randomUUID();
    const tooLate = randomUUID();
    await payment.try(tryCommand(late, customer, 1_000, { holdMs: 50 }));
    await waitFor(async () => (await payment.expireOverdue()) > 0, { description: 'the hold to expire' });
    expect(await amounts(customer)).toEqual({ balance: 1_000, held: 0, captured: 0, topped_up_total: 1_000 });
    expect((await replies(late)).map((r) => [r.type, r.payload])).toEqual([
      ['PaymentHeld', expect.objectContaining({ amount: 1_000 })],
      ['PaymentHoldExpired', { orderId: late, customerId: customer, amount: 1_000 }],
    ]);
    expect(await wallets.hold(late)).toMatchObject({ status: 'EXPIRED', reason: 'TTL' });

    await payment.confirm(confirm(late, customer)); // the points are still there: captured after all
    expect(await amounts(customer)).toEqual({ balance: 0, held: 0, captured: 1_000, topped_up_total: 1_000 });
    expect((await replies(late))[2]?.type).toBe('PaymentCaptured');

    const other = await wallet(500);
    const taker = randomUUID();
    await payment.try(tryCommand(tooLate, other, 500, { holdMs: 50 }));
    await waitFor(async () => (await payment.expireOverdue()) > 0, {
      description: 'the second hold to expire',
    });
    await payment.try(tryCommand(taker, other, 300)); // another order spends the released points
    await payment.confirm(confirm(tooLate, other));
    await payment.confirm(confirm(tooLate, other));
    expect(await typesAndReasons(tooLate)).toEqual([
      ['PaymentHeld', undefined],
      ['PaymentHoldExpired', undefined],
      ['PaymentConfirmRefused', 'EXPIRED'],
      ['PaymentConfirmRefused', 'EXPIRED'],
    ]);
    expect(await amounts(other)).toEqual({ balance: 200, held: 300, captured: 0, topped_up_total: 500 });
  });

  it('expires many holds of one wallet in one sweep and leaves live ones alone', async () => {
    const customer = await wallet(1_000);
    const expiring = [randomUUID(), randomUUID(), randomUUID()];
    const live = randomUUID();
    for (const o of expiring) await payment.try(tryCommand(o, customer, 100, { holdMs: 30 }));
    await payment.try(tryCommand(live, customer, 200));
    await waitFor(
      async () => {
        await payment.expireOverdue();
        return (await amounts(customer))?.held === 200;
      },
      { description: "the wallet's three short holds to expire" },
    );
    expect(await amounts(customer)).toEqual({ balance: 800, held: 200, captured: 0, topped_up_total: 1_000 });
    for (const o of expiring)
      expect((await replies(o)).map((r) => r.type)).toEqual(['PaymentHeld', 'PaymentHoldExpired']);
    expect(await wallets.hold(live)).toMatchObject({ status: 'HELD' });
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
});
