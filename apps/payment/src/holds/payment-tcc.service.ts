import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { PLAIN_INDEX_SCANS, preparedQuery, unlessExists } from '@tcc/database';
import { createMessage, replyTo } from '@tcc/contracts';
import type { MessageOfType, PaymentCommand, PaymentReply } from '@tcc/contracts';
import { PermanentError } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { enqueueMessages, FenceReplies, DirectPublisher, SqlParams, withPayload } from '@tcc/outbox';
import type { RefuseReason } from '@tcc/tcc';
import { holdRules } from '../domain/hold-rules';
import { PAYMENT_SETTINGS } from '../payment.settings';
import type { PaymentSettings } from '../payment.settings';
import { planHoldBatch } from './payment-batch.plan';
import { readHoldBatch, writeHoldBatch } from './payment-batch.sql';
import { heldReply, replied, sentLine } from './hold.fence';
import type { FenceRow, Phase } from './hold.fence';

type Command<T extends PaymentCommand['type']> = MessageOfType<T>;

/**
 * Payment's side of the saga. Each command is decided by domain/hold-rules.ts (the shared @tcc/tcc
 * fence rules in payment's words) from the hold row (the fence), then the points are moved in the
 * wallet under its own guard (`balance >= amount`, CHECK constraints), the outcome and the reply
 * recorded in the fence, all or nothing. Once that has committed the reply is sent to Kafka
 * (DirectPublisher), and only then is the command's offset committed: a command whose reply was not
 * acknowledged comes again and replays it from the fence.
 *
 * The common cases (a try that holds, a confirm or cancel of a live hold) take a fast path: ONE
 * statement whose parts all key on a guarded update (the wallet's balance for a try, the hold's
 * status for a confirm or cancel), so a wallet or hold in any other state writes nothing.
 * Everything else, and a fast path that wrote nothing, runs as one transaction that locks the hold
 * first and decides again.
 *
 * The consumer also offers runs of commands from one partition to handleBatch: ONE statement
 * reads the run's wallets and holds, the rules decide the leading commands that are common cases
 * in offset order over that state in memory (payment-batch.plan.ts), and ONE statement writes them
 * all (payment-batch.sql.ts), every part guarded by what was read, so a batch that lost a race
 * writes nothing and its commands come again one by one.
 *
 * Money moves between the wallet's columns only: try balance → held, confirm held → captured,
 * cancel and expiry held → balance, refund captured → balance, so balance + held + captured stays
 * equal to topped_up_total (a CHECK constraint says so too).
 *
 * Locks are always taken hold first, then wallet, so confirm, cancel, refund and the sweeper
 * cannot deadlock each other; a try locks only the wallet and inserts its hold, and two racing
 * tries for one order collide on the primary key and are retried into a replay. A batch keeps
 * that order too: the holds it settles, then its wallets in customer order (as the sweeper), then
 * the holds it inserts.
 */
@Injectable()
export class PaymentTccService {
  private readonly log = new Logger('payment');
  private readonly replies: FenceReplies;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PAYMENT_SETTINGS) private readonly settings: PaymentSettings,
    publisher: DirectPublisher,
  ) {
    this.replies = new FenceReplies('holds', ['order_id'], this.log, publisher);
  }

  async try(command: Command<'PaymentTry'>): Promise<void> {
    if (!(await this.holdFast(command))) await this.tryLocked(command);
  }

  async confirm(command: Command<'PaymentConfirm'>): Promise<void> {
    if (!(await this.settleFast(command, 'confirm'))) await this.confirmLocked(command);
  }

  async cancel(command: Command<'PaymentCancel'>): Promise<void> {
    if (!(await this.settleFast(command, 'cancel'))) await this.cancelLocked(command);
  }

  /**
   * The batch fast path (the transport's BATCH_PATTERN contract): writes the leading commands it
   * can take in one transaction and returns how many, or 0 to have the first one handled alone.
   * Fewer than two commands are left to the single-message fast path (one round trip too). A
   * prefix of one is written: the read is paid for already, and one more statement costs no more
   * than the single fast path (and less than the locked path a rejected try takes). A batch that
   * lost a race (a hold that exists now, a hold or wallet changed since the read) writes nothing
   * and returns 0.
   */
  async handleBatch(messages: readonly BatchedMessage<PaymentCommand>[]): Promise<number> {
    if (messages.length < 2) return 0;
    const commands = messages.map((m) => m.envelope);
    const now = new Date();
    const state = await readHoldBatch(this.db, commands);
    const plan = planHoldBatch(commands, state, now, (command) => this.expiryOf(command, now));
    const taken = messages.slice(0, plan.sent.length);
    return this.replies.writeBatch(taken, plan.sent, () => writeHoldBatch(this.db, plan));
  }

  // ------------------------------------------------------------------ fast paths

  /**
   * A first try on a wallet with the points: hold them in one statement, guarded by the balance
   * (`balance >= amount`). Returns false, having written nothing, when the balance is short or the
   * wallet unknown, or when the hold exists already (a duplicate, or a cancel that came first):
   * the hold's key makes the whole statement fail.
   */
  private async holdFast(command: Command<'PaymentTry'>): Promise<boolean> {
    const { orderId, customerId, amount } = command.payload;
    const now = new Date();
    const deadline = new Date(command.payload.deadline);
    if (holdRules.decideTry(undefined, false, deadline, now).kind !== 'apply') return false;
    const expiresAt = this.expiryOf(command, now);
    const reply = heldReply(command, expiresAt);
    const p = new SqlParams();
    const points = p.add(amount, 'bigint');
    const written = await unlessExists(() =>
      preparedQuery<unknown[]>(
        this.db,
        `WITH w AS (
           UPDATE wallets SET balance = balance - ${points}, held = held + ${points}, updated_at = now()
            WHERE customer_id = ${p.add(customerId)} AND balance >= ${points} RETURNING customer_id),
         h AS (
           INSERT INTO holds (order_id, customer_id, amount, status, expires_at, replies)
           SELECT ${p.add(orderId, 'uuid')}, w.customer_id, ${points}, 'HELD', ${p.add(expiresAt, 'timestamptz')},
                  jsonb_build_object('try', ${p.add(JSON.stringify(reply), 'jsonb')}) FROM w)
         SELECT w.customer_id FROM w`,
        p.values,
      ),
    );
    if (!written || written.length === 0) return false;
    this.replies.logSent(reply, sentLine.held(amount, customerId));
    await this.replies.publish(reply);
    return true;
  }

  /**
   * Capture or release a HELD hold of this customer in one statement, guarded by the fence: it
   * must still be HELD with no reply to this phase. The reply's amount comes from the hold row.
   * Returns false, having written nothing, for any other hold (another customer's included: the
   * locked path dead-letters that command).
   */
  private async settleFast(
    command: Command<'PaymentConfirm' | 'PaymentCancel'>,
    phase: 'confirm' | 'cancel',
  ) {
    const { orderId, customerId } = command.payload;
    const confirm = phase === 'confirm';
    // the amount (0 here) is filled in from the hold
    const reply = confirm
      ? replyTo(command, 'PaymentCaptured', { orderId, customerId, amount: 0 })
      : replyTo(command, 'PaymentReleased', { orderId, customerId, released: 0, emptyRollback: false });
    const field = confirm ? 'amount' : 'released';
    const p = new SqlParams();
    const customer = p.add(customerId);
    const fenced = this.replies.transition(p, [orderId], {
      phase,
      reply,
      from: 'HELD',
      to: confirm ? 'CAPTURED' : 'RELEASED',
      returning: 'amount',
      replySql: (json) => `jsonb_set(${json}, '{payload,${field}}', to_jsonb(amount))`,
      also: `customer_id = ${customer}`,
    });
    const change = confirm
      ? 'held = held - f.amount, captured = captured + f.amount'
      : 'held = held - f.amount, balance = balance + f.amount';
    // locks in the documented order: the hold, then the wallet
    const written = await preparedQuery<{ amount: string }[]>(
      this.db,
      `WITH f AS (${fenced}),
       s AS (UPDATE wallets SET ${change}, updated_at = now() FROM f WHERE customer_id = ${customer})
       SELECT f.amount FROM f`,
      p.values,
    );
    const amount = written[0]?.amount;
    if (amount === undefined) return false;
    this.replies.logSent(
      reply,
      confirm ? sentLine.captured(amount, customerId) : sentLine.released(amount, customerId),
    );
    const points = Number(amount);
    await this.replies.publish(
      reply.type === 'PaymentCaptured'
        ? withPayload(reply, { amount: points })
        : withPayload(reply, { released: points }),
    );
    return true;
  }

  private expiryOf(command: Command<'PaymentTry'>, now: Date): Date {
    return new Date(
      Math.min(new Date(command.payload.holdUntil).getTime(), now.getTime() + this.settings.maxHoldMs),
    );
  }

  // ------------------------------------------------------------------ locked paths

  private async tryLocked(command: Command<'PaymentTry'>): Promise<void> {
    const { orderId, customerId, amount } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<PaymentReply> => {
      const fence = await this.lockFence(m, command);
      const now = new Date();
      const deadline = new Date(command.payload.deadline);
      const outcome = holdRules.decideTry(fence, replied(fence, 'try'), deadline, now);
      if (outcome.kind === 'replay') return this.replies.replay(command, fence?.replies, 'try');
      if (outcome.kind === 'reject') {
        return this.rejectTry(m, command, fence === undefined, outcome.reason);
      }
      const held = await this.changeWallet(
        m,
        `UPDATE wallets SET balance = balance - $2, held = held + $2, updated_at = now()
          WHERE customer_id = $1 AND balance >= $2 RETURNING customer_id`,
        customerId,
        amount,
      );
      if (!held) {
        const exists = await m.query<unknown[]>('SELECT 1 FROM wallets WHERE customer_id = $1', [customerId]);
        return this.rejectTry(m, command, true, exists.length > 0 ? 'INSUFFICIENT_FUNDS' : 'UNKNOWN_WALLET');
      }
      const expiresAt = this.expiryOf(command, now);
      const reply = heldReply(command, expiresAt);
      await m.query(
        `INSERT INTO holds (order_id, customer_id, amount, status, expires_at, replies)
         VALUES ($1, $2, $3, 'HELD', $4, jsonb_build_object('try', $5::jsonb))`,
        [orderId, customerId, amount, expiresAt, JSON.stringify(reply)],
      );
      return this.replies.answer(reply, sentLine.held(amount, customerId));
    });
  }

  private async confirmLocked(command: Command<'PaymentConfirm'>): Promise<void> {
    const { orderId, customerId } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<PaymentReply> => {
      const fence = await this.lockFence(m, command);
      const outcome = holdRules.decideConfirm(fence, replied(fence, 'confirm'));
      if (outcome.kind === 'replay') return this.replies.replay(command, fence?.replies, 'confirm');
      if (outcome.kind === 'refuse' || !fence) {
        const reason = outcome.kind === 'refuse' ? outcome.reason : 'NOT_RESERVED';
        return this.refuse(m, command, fence, 'confirm', 'PaymentConfirmRefused', reason);
      }
      const amount = fence.amount;
      if (outcome.kind === 'apply') {
        // capture what the try held
        await this.mustChangeWallet(
          m,
          `UPDATE wallets SET held = held - $2, captured = captured + $2, updated_at = now()
            WHERE customer_id = $1 RETURNING customer_id`,
          customerId,
          amount,
        );
      } else {
        // reacquire: the sweeper released the hold, so capture straight from the balance
        const taken = await this.changeWallet(
          m,
          `UPDATE wallets SET balance = balance - $2, captured = captured + $2, updated_at = now()
            WHERE customer_id = $1 AND balance >= $2 RETURNING customer_id`,
          customerId,
          amount,
        );
        if (!taken) return this.refuse(m, command, fence, 'confirm', 'PaymentConfirmRefused', 'EXPIRED');
      }
      const reply = replyTo(command, 'PaymentCaptured', { orderId, customerId, amount });
      await this.replies.record(m, [orderId], 'confirm', reply, 'CAPTURED');
      return this.replies.answer(reply, sentLine.captured(amount, customerId));
    });
  }

  private async cancelLocked(command: Command<'PaymentCancel'>): Promise<void> {
    const { orderId, customerId } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<PaymentReply> => {
      const fence = await this.lockFence(m, command);
      const outcome = holdRules.decideCancel(fence, replied(fence, 'cancel'));
      switch (outcome.kind) {
        case 'replay':
          return this.replies.replay(command, fence?.replies, 'cancel');
        case 'refuse':
          return this.refuse(m, command, fence, 'cancel', 'PaymentCancelRefused', outcome.reason);
        case 'empty-rollback': {
          const reply = replyTo(command, 'PaymentReleased', {
            orderId,
            customerId,
            released: 0,
            emptyRollback: true,
          });
          await m.query(
            `INSERT INTO holds (order_id, customer_id, amount, status, reason, replies)
             VALUES ($1, $2, 0, 'RELEASED', 'EMPTY_ROLLBACK', jsonb_build_object('cancel', $3::jsonb))`,
            [orderId, customerId, JSON.stringify(reply)],
          );
          return this.replies.answer(reply, `cancel before any try for ${customerId}: remembered`);
        }
        case 'nothing-to-release': {
          const reply = replyTo(command, 'PaymentReleased', {
            orderId,
            customerId,
            released: 0,
            emptyRollback: false,
          });
          await this.replies.record(m, [orderId], 'cancel', reply, fence?.status ?? 'RELEASED');
          return this.replies.answer(reply, `nothing held for ${customerId}`);
        }
        case 'apply': {
          // release what the try held
          const amount = fence?.amount ?? 0;
          await this.mustChangeWallet(
            m,
            `UPDATE wallets SET held = held - $2, balance = balance + $2, updated_at = now()
              WHERE customer_id = $1 RETURNING customer_id`,
            customerId,
            amount,
          );
          const reply = replyTo(command, 'PaymentReleased', {
            orderId,
            customerId,
            released: amount,
            emptyRollback: false,
          });
          await this.replies.record(m, [orderId], 'cancel', reply, 'RELEASED');
          return this.replies.answer(reply, sentLine.released(amount, customerId));
        }
      }
    });
  }

  async refund(command: Command<'PaymentRefund'>): Promise<void> {
    const { orderId, customerId } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<PaymentReply> => {
      const fence = await this.lockFence(m, command);
      const outcome = holdRules.decideCompensate(fence, replied(fence, 'refund'));
      if (outcome.kind === 'replay') return this.replies.replay(command, fence?.replies, 'refund');
      if (outcome.kind === 'refuse' || !fence) {
        const reason = outcome.kind === 'refuse' ? outcome.reason : 'NOT_RESERVED';
        return this.refuse(m, command, fence, 'refund', 'PaymentRefundRefused', reason);
      }
      const amount = fence.amount;
      await this.mustChangeWallet(
        m,
        `UPDATE wallets SET captured = captured - $2, balance = balance + $2, updated_at = now()
          WHERE customer_id = $1 RETURNING customer_id`,
        customerId,
        amount,
      );
      const reply = replyTo(command, 'PaymentRefunded', { orderId, customerId, amount });
      await this.replies.record(m, [orderId], 'refund', reply, 'REFUNDED');
      return this.replies.answer(reply, `refunded ${amount} to ${customerId}`);
    });
  }

  /**
   * Releases holds whose time to live has passed (neither confirmed nor cancelled in time) and
   * tells the order service. Returns how many it released.
   */
  async expireOverdue(limit = 100): Promise<number> {
    return this.db.transaction(async (m) => {
      await m.query(PLAIN_INDEX_SCANS);
      const rows = await m.query<{ order_id: string; customer_id: string; amount: number }[]>(
        `SELECT order_id, customer_id, amount::float8 AS amount FROM holds
          WHERE status = 'HELD' AND expires_at < now()
          ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      if (rows.length === 0) return 0;
      // one update per wallet, in customer order, so two sweepers never wait on each other in a cycle
      const perWallet = new Map<string, number>();
      for (const r of rows) perWallet.set(r.customer_id, (perWallet.get(r.customer_id) ?? 0) + r.amount);
      for (const customerId of [...perWallet.keys()].sort()) {
        await this.mustChangeWallet(
          m,
          `UPDATE wallets SET held = held - $2, balance = balance + $2, updated_at = now()
            WHERE customer_id = $1 RETURNING customer_id`,
          customerId,
          perWallet.get(customerId) ?? 0,
        );
      }
      await m.query(
        `UPDATE holds SET status = 'EXPIRED', reason = 'TTL', updated_at = now() WHERE order_id = ANY($1::uuid[])`,
        [rows.map((r) => r.order_id)],
      );
      const events = rows.map((r) =>
        createMessage(
          'PaymentHoldExpired',
          { orderId: r.order_id, customerId: r.customer_id, amount: r.amount },
          { correlationId: r.order_id },
        ),
      );
      await enqueueMessages(m, events);
      for (const r of rows) {
        this.log.warn({
          msg: 'hold expired and released',
          correlationId: r.order_id,
          customerId: r.customer_id,
          amount: r.amount,
        });
      }
      return rows.length;
    });
  }

  // ------------------------------------------------------------------ helpers

  /**
   * Locks the order's hold, if there is one. A command naming another customer than the hold's is
   * a protocol error, not a business outcome: no reply could be right, and touching either wallet
   * would be wrong, so it is dead-lettered.
   */
  private async lockFence(m: EntityManager, command: PaymentCommand): Promise<FenceRow | undefined> {
    const { orderId, customerId } = command.payload;
    const rows = await m.query<FenceRow[]>(
      'SELECT customer_id, amount::float8 AS amount, status, replies FROM holds WHERE order_id = $1 FOR UPDATE',
      [orderId],
    );
    const row = rows[0];
    if (row && row.customer_id !== customerId) {
      throw new PermanentError(
        `${command.type} for order ${orderId} names customer ${customerId}, but the order's hold belongs to ${row.customer_id}`,
      );
    }
    return row;
  }

  /** Runs a guarded wallet UPDATE … RETURNING; true when it changed the wallet. */
  private async changeWallet(
    m: EntityManager,
    sql: string,
    customerId: string,
    amount: number,
  ): Promise<boolean> {
    const [rows] = await m.query<[unknown[], number]>(sql, [customerId, amount]);
    return rows.length > 0;
  }

  /** A wallet UPDATE that must apply: the wallet of a hold cannot be missing. */
  private async mustChangeWallet(
    m: EntityManager,
    sql: string,
    customerId: string,
    amount: number,
  ): Promise<void> {
    if (!(await this.changeWallet(m, sql, customerId, amount))) {
      throw new Error(`wallet ${customerId} is missing although a hold refers to it`);
    }
  }

  private async rejectTry(
    m: EntityManager,
    command: Command<'PaymentTry'>,
    insert: boolean,
    reason: 'INSUFFICIENT_FUNDS' | 'UNKNOWN_WALLET' | 'DEADLINE_PASSED' | 'ALREADY_CANCELLED',
  ): Promise<PaymentReply> {
    const { orderId, customerId, amount } = command.payload;
    const reply = replyTo(command, 'PaymentRejected', { orderId, customerId, reason });
    if (insert) {
      await m.query(
        `INSERT INTO holds (order_id, customer_id, amount, status, reason, replies)
         VALUES ($1, $2, $3, 'REJECTED', $4, jsonb_build_object('try', $5::jsonb))`,
        [orderId, customerId, amount, reason, JSON.stringify(reply)],
      );
    } else {
      await this.replies.record(m, [orderId], 'try', reply);
    }
    return this.replies.answer(reply, sentLine.rejected(customerId, reason));
  }

  private async refuse(
    m: EntityManager,
    command: Command<'PaymentConfirm' | 'PaymentCancel' | 'PaymentRefund'>,
    row: FenceRow | undefined,
    phase: Phase,
    type: 'PaymentConfirmRefused' | 'PaymentCancelRefused' | 'PaymentRefundRefused',
    reason: RefuseReason,
  ): Promise<PaymentReply> {
    const { orderId, customerId } = command.payload;
    const reply = replyTo(command, type, { orderId, customerId, reason });
    if (row) await this.replies.record(m, [orderId], phase, reply);
    return this.replies.answer(reply, `${phase} for ${customerId} refused: ${reason}`);
  }
}
