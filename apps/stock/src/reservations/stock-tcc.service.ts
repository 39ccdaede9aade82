import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { PLAIN_INDEX_SCANS, preparedQuery, unlessExists } from '@tcc/database';
import { createMessage, replyTo } from '@tcc/contracts';
import type { MessageOfType, StockCommand, StockReply } from '@tcc/contracts';
import type { BatchedMessage } from '@tcc/kafka';
import { enqueueMessages, FenceReplies, DirectPublisher, SqlParams, withPayload } from '@tcc/outbox';
import type { RefuseReason } from '@tcc/tcc';
import { reservationRules } from '../domain/reservation-rules';
import { STOCK_SETTINGS } from '../stock.settings';
import type { StockSettings } from '../stock.settings';
import { replied, reservedReply } from './reservation.fence';
import type { FenceRow, Phase } from './reservation.fence';
import { candidates, fenceKey, planBatch } from './stock-batch.plan';
import type { BatchState } from './stock-batch.plan';
import { batchReadSql, batchWriteSql } from './stock-batch.sql';
import type { BatchReadRow } from './stock-batch.sql';

type Command<T extends 'StockTry' | 'StockConfirm' | 'StockCancel' | 'StockReturn'> = MessageOfType<T>;

/**
 * Stock's side of the saga. Each command is decided by domain/reservation-rules.ts (the shared
 * @tcc/tcc fence rules in stock's words) from the reservation row (the fence), then the product is
 * changed under its own guard (`available >= quantity`, CHECK constraints) and the outcome and the
 * reply recorded in the fence, all or nothing. Once that has committed the reply is sent to Kafka
 * (DirectPublisher), and only then is the command's offset committed: a command whose reply was not
 * acknowledged comes again and replays it from the fence.
 *
 * The common cases (a try that reserves, a confirm or cancel of a live reservation) take a fast
 * path: ONE statement whose parts all key on a guarded update (the product's stock for a try, the
 * fence's status for a confirm or cancel), so a product or fence in any other state writes
 * nothing. Everything else, and a fast path that wrote nothing, runs as one transaction that locks
 * the fence first and decides again.
 *
 * The consumer also offers runs of commands from one partition to `handleBatch`: one read of the
 * run's products and fences, the same rules applied in offset order to that state
 * (stock-batch.plan.ts), and one statement that writes the leading commands of the common kinds,
 * every part guarded by what was read (stock-batch.sql.ts). A batch that lost a race writes
 * nothing, and the transport hands its commands to the single-message paths above.
 *
 * Locks are always taken reservation first, then product, so confirm, cancel and the sweeper
 * cannot deadlock each other; a try locks only the product and inserts its reservation, and two
 * racing tries for one order collide on the primary key and are retried into a replay. A batch
 * keeps that order: its fences, then its products in id order (as the sweeper does), then the
 * reservations of its tries.
 */
@Injectable()
export class StockTccService {
  private readonly log = new Logger('stock');
  private readonly replies: FenceReplies;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(STOCK_SETTINGS) private readonly settings: StockSettings,
    publisher: DirectPublisher,
  ) {
    this.replies = new FenceReplies('reservations', ['order_id', 'product_id'], this.log, publisher);
  }

  async try(command: Command<'StockTry'>): Promise<void> {
    if (!(await this.reserveFast(command))) await this.tryLocked(command);
  }

  async confirm(command: Command<'StockConfirm'>): Promise<void> {
    if (!(await this.settleFast(command, 'confirm'))) await this.confirmLocked(command);
  }

  async cancel(command: Command<'StockCancel'>): Promise<void> {
    if (!(await this.settleFast(command, 'cancel'))) await this.cancelLocked(command);
  }

  /**
   * The batch fast path: writes the longest prefix of `messages` the batch can take (see
   * stock-batch.plan.ts) in ONE statement, with the replies the single paths would send, and
   * returns its length. Returns 0, having written nothing, when fewer than two leading messages
   * could be taken (the single fast path is one round trip, a batch two), when the first message
   * needs the single path, or when the write lost a race. Once read, a prefix of one is written
   * too: one more round trip is no more than the single path would cost.
   */
  async handleBatch(messages: readonly BatchedMessage<StockCommand>[]): Promise<number> {
    const commands = candidates(messages.map((m) => m.envelope));
    if (commands.length < 2) return 0;
    const state = await this.readBatch(commands);
    const now = new Date();
    const plan = planBatch(commands, state, now, (command) => this.expiryOf(command, now));
    const taken = messages.slice(0, plan.steps.length);
    return this.replies.writeBatch(taken, plan.steps, async () => {
      const p = new SqlParams();
      await preparedQuery(this.db, batchWriteSql(p, plan), p.values);
    });
  }

  /** The run's products and fences, read in one round trip without locks. */
  private async readBatch(commands: readonly StockCommand[]): Promise<BatchState> {
    const p = new SqlParams();
    const [row] = await preparedQuery<BatchReadRow[]>(this.db, batchReadSql(p, commands), p.values);
    return {
      products: new Map(row?.products.map((r) => [r.id, r])),
      fences: new Map(row?.fences.map((f) => [fenceKey(f.order_id, f.product_id), f])),
    };
  }

  // ------------------------------------------------------------------ fast paths

  /**
   * A first try for a product that has the stock: reserve in one statement, guarded by the
   * product (`available >= quantity`); the reply gets the catalog price from the same update.
   * Returns false, having written nothing, when the product lacks the stock or is unknown, or when
   * the reservation exists already (a duplicate, or a cancel that came first): the reservation's
   * key makes the whole statement fail.
   */
  private async reserveFast(command: Command<'StockTry'>): Promise<boolean> {
    const { orderId, productId, quantity } = command.payload;
    const now = new Date();
    const deadline = new Date(command.payload.deadline);
    if (reservationRules.decideTry(undefined, false, deadline, now).kind !== 'apply') return false;
    const expiresAt = this.expiryOf(command, now);
    // unitPrice is filled in from the product row the statement updates
    const reply = reservedReply(command, 0, expiresAt);
    const withPrice = (json: string) => `jsonb_set(${json}, '{payload,unitPrice}', to_jsonb(p.price))`;
    const p = new SqlParams();
    const qty = p.add(quantity, 'integer');
    const written = await unlessExists(() =>
      preparedQuery<{ price: string }[]>(
        this.db,
        `WITH p AS (
           UPDATE products SET available = available - ${qty}, reserved = reserved + ${qty}, updated_at = now()
            WHERE id = ${p.add(productId)} AND available >= ${qty} RETURNING id, price),
         r AS (
           INSERT INTO reservations (order_id, product_id, quantity, unit_price, status, expires_at, replies)
           SELECT ${p.add(orderId, 'uuid')}, p.id, ${qty}, p.price, 'RESERVED', ${p.add(expiresAt, 'timestamptz')},
                  jsonb_build_object('try', ${withPrice(p.add(JSON.stringify(reply), 'jsonb'))}) FROM p)
         SELECT p.price FROM p`,
        p.values,
      ),
    );
    const price = written?.[0]?.price;
    if (price === undefined) return false;
    this.replies.logSent(reply, `reserved ${quantity} of ${productId} at ${price}`);
    await this.replies.publish(withPayload(reply, { unitPrice: Number(price) }));
    return true;
  }

  /**
   * Confirm (sell) or cancel (release) a RESERVED reservation in one statement, guarded by the
   * fence: it must still be RESERVED with no reply to this phase. The reply's quantity comes from
   * the reservation row. Returns false, having written nothing, for any other reservation.
   */
  private async settleFast(command: Command<'StockConfirm' | 'StockCancel'>, phase: 'confirm' | 'cancel') {
    const { orderId, productId } = command.payload;
    const confirm = phase === 'confirm';
    // the quantity (0 here) is filled in from the reservation
    const reply = confirm
      ? replyTo(command, 'StockConfirmed', { orderId, productId, quantity: 0 })
      : replyTo(command, 'StockCancelled', { orderId, productId, released: 0, emptyRollback: false });
    const field = confirm ? 'quantity' : 'released';
    const p = new SqlParams();
    const fenced = this.replies.transition(p, [orderId, productId], {
      phase,
      reply,
      from: 'RESERVED',
      to: confirm ? 'CONFIRMED' : 'CANCELLED',
      returning: 'quantity',
      replySql: (json) => `jsonb_set(${json}, '{payload,${field}}', to_jsonb(quantity))`,
    });
    const change = confirm
      ? 'reserved = reserved - f.quantity, sold = sold + f.quantity'
      : 'available = available + f.quantity, reserved = reserved - f.quantity';
    // locks in the documented order: the reservation, then the product
    const written = await preparedQuery<{ quantity: number }[]>(
      this.db,
      `WITH f AS (${fenced}),
       s AS (UPDATE products SET ${change}, updated_at = now() FROM f WHERE id = ${p.add(productId)})
       SELECT f.quantity FROM f`,
      p.values,
    );
    const quantity = written[0]?.quantity;
    if (quantity === undefined) return false;
    this.replies.logSent(
      reply,
      confirm ? `sold ${quantity} of ${productId}` : `released ${quantity} of ${productId}`,
    );
    await this.replies.publish(
      reply.type === 'StockConfirmed'
        ? withPayload(reply, { quantity })
        : withPayload(reply, { released: quantity }),
    );
    return true;
  }

  private expiryOf(command: Command<'StockTry'>, now: Date): Date {
    return new Date(
      Math.min(new Date(command.payload.holdUntil).getTime(), now.getTime() + this.settings.maxHoldMs),
    );
  }

  // ------------------------------------------------------------------ locked paths

  private async tryLocked(command: Command<'StockTry'>): Promise<void> {
    const { orderId, productId, quantity } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<StockReply> => {
      const fence = await this.lockFence(m, orderId, productId);
      const now = new Date();
      const deadline = new Date(command.payload.deadline);
      const outcome = reservationRules.decideTry(fence, replied(fence, 'try'), deadline, now);
      if (outcome.kind === 'replay') return this.replies.replay(command, fence?.replies, 'try');
      if (outcome.kind === 'reject') {
        return this.rejectTry(m, command, fence === undefined, outcome.reason);
      }
      const reserved = await m.query<[{ price: string }[], number]>(
        `UPDATE products SET available = available - $2, reserved = reserved + $2, updated_at = now()
          WHERE id = $1 AND available >= $2 RETURNING price`,
        [productId, quantity],
      );
      const price = reserved[0][0]?.price;
      if (price === undefined) {
        const exists = await m.query<unknown[]>('SELECT 1 FROM products WHERE id = $1', [productId]);
        return this.rejectTry(m, command, true, exists.length > 0 ? 'OUT_OF_STOCK' : 'UNKNOWN_PRODUCT');
      }
      const expiresAt = this.expiryOf(command, now);
      const reply = reservedReply(command, Number(price), expiresAt);
      await m.query(
        `INSERT INTO reservations (order_id, product_id, quantity, unit_price, status, expires_at, replies)
         VALUES ($1, $2, $3, $4, 'RESERVED', $5, jsonb_build_object('try', $6::jsonb))`,
        [orderId, productId, quantity, price, expiresAt, JSON.stringify(reply)],
      );
      return this.replies.answer(reply, `reserved ${quantity} of ${productId} at ${price}`);
    });
  }

  private async confirmLocked(command: Command<'StockConfirm'>): Promise<void> {
    const { orderId, productId } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<StockReply> => {
      const fence = await this.lockFence(m, orderId, productId);
      const outcome = reservationRules.decideConfirm(fence, replied(fence, 'confirm'));
      if (outcome.kind === 'replay') return this.replies.replay(command, fence?.replies, 'confirm');
      if (outcome.kind === 'refuse' || !fence) {
        const reason = outcome.kind === 'refuse' ? outcome.reason : 'NOT_RESERVED';
        return this.refuse(m, command, fence, 'confirm', 'StockConfirmRefused', reason);
      }
      const quantity = fence.quantity;
      if (outcome.kind === 'apply') {
        // sell what the try reserved
        await m.query(
          'UPDATE products SET reserved = reserved - $2, sold = sold + $2, updated_at = now() WHERE id = $1',
          [productId, quantity],
        );
      } else {
        // reacquire: the sweeper released the reservation, so sell from what is available now
        const taken = await m.query<[unknown[], number]>(
          `UPDATE products SET available = available - $2, sold = sold + $2, updated_at = now()
            WHERE id = $1 AND available >= $2 RETURNING id`,
          [productId, quantity],
        );
        if (taken[0].length === 0) {
          return this.refuse(m, command, fence, 'confirm', 'StockConfirmRefused', 'EXPIRED');
        }
      }
      const reply = replyTo(command, 'StockConfirmed', { orderId, productId, quantity });
      await this.replies.record(m, [orderId, productId], 'confirm', reply, 'CONFIRMED');
      return this.replies.answer(reply, `sold ${quantity} of ${productId}`);
    });
  }

  private async cancelLocked(command: Command<'StockCancel'>): Promise<void> {
    const { orderId, productId } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<StockReply> => {
      const fence = await this.lockFence(m, orderId, productId);
      const outcome = reservationRules.decideCancel(fence, replied(fence, 'cancel'));
      switch (outcome.kind) {
        case 'replay':
          return this.replies.replay(command, fence?.replies, 'cancel');
        case 'refuse':
          return this.refuse(m, command, fence, 'cancel', 'StockCancelRefused', outcome.reason);
        case 'empty-rollback': {
          const reply = replyTo(command, 'StockCancelled', {
            orderId,
            productId,
            released: 0,
            emptyRollback: true,
          });
          await m.query(
            `INSERT INTO reservations (order_id, product_id, quantity, status, reason, replies)
             VALUES ($1, $2, 0, 'CANCELLED', 'EMPTY_ROLLBACK', jsonb_build_object('cancel', $3::jsonb))`,
            [orderId, productId, JSON.stringify(reply)],
          );
          return this.replies.answer(reply, `cancel before any try for ${productId}: remembered`);
        }
        case 'nothing-to-release': {
          const reply = replyTo(command, 'StockCancelled', {
            orderId,
            productId,
            released: 0,
            emptyRollback: false,
          });
          await this.replies.record(m, [orderId, productId], 'cancel', reply, fence?.status ?? 'CANCELLED');
          return this.replies.answer(reply, `nothing held for ${productId}`);
        }
        case 'apply': {
          // release what the try reserved
          const quantity = fence?.quantity ?? 0;
          await m.query(
            'UPDATE products SET available = available + $2, reserved = reserved - $2, updated_at = now() WHERE id = $1',
            [productId, quantity],
          );
          const reply = replyTo(command, 'StockCancelled', {
            orderId,
            productId,
            released: quantity,
            emptyRollback: false,
          });
          await this.replies.record(m, [orderId, productId], 'cancel', reply, 'CANCELLED');
          return this.replies.answer(reply, `released ${quantity} of ${productId}`);
        }
      }
    });
  }

  async return(command: Command<'StockReturn'>): Promise<void> {
    const { orderId, productId } = command.payload;
    await this.replies.decide(this.db, async (m): Promise<StockReply> => {
      const fence = await this.lockFence(m, orderId, productId);
      const outcome = reservationRules.decideCompensate(fence, replied(fence, 'return'));
      if (outcome.kind === 'replay') return this.replies.replay(command, fence?.replies, 'return');
      if (outcome.kind === 'refuse' || !fence) {
        const reason = outcome.kind === 'refuse' ? outcome.reason : 'NOT_RESERVED';
        return this.refuse(m, command, fence, 'return', 'StockReturnRefused', reason);
      }
      const quantity = fence.quantity;
      await m.query(
        'UPDATE products SET sold = sold - $2, available = available + $2, updated_at = now() WHERE id = $1',
        [productId, quantity],
      );
      const reply = replyTo(command, 'StockReturned', { orderId, productId, quantity });
      await this.replies.record(m, [orderId, productId], 'return', reply, 'RETURNED');
      return this.replies.answer(reply, `took back ${quantity} of ${productId}`);
    });
  }

  /**
   * Releases reservations whose time to live has passed (neither confirmed nor cancelled in time)
   * and tells the order service. Returns how many it released.
   */
  async expireOverdue(limit = 100): Promise<number> {
    return this.db.transaction(async (m) => {
      await m.query(PLAIN_INDEX_SCANS);
      const rows = await m.query<{ order_id: string; product_id: string; quantity: number }[]>(
        `SELECT order_id, product_id, quantity FROM reservations
          WHERE status = 'RESERVED' AND expires_at < now()
          ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      // products are updated in id order, so two sweepers (two instances) never lock them crosswise
      const released = new Map<string, number>();
      for (const r of rows) released.set(r.product_id, (released.get(r.product_id) ?? 0) + r.quantity);
      for (const [productId, quantity] of [...released].sort(([a], [b]) => (a < b ? -1 : 1))) {
        await m.query(
          'UPDATE products SET available = available + $2, reserved = reserved - $2, updated_at = now() WHERE id = $1',
          [productId, quantity],
        );
      }
      for (const r of rows) {
        await m.query(
          `UPDATE reservations SET status = 'EXPIRED', reason = 'TTL', updated_at = now()
            WHERE order_id = $1 AND product_id = $2`,
          [r.order_id, r.product_id],
        );
        const event = createMessage(
          'StockReservationExpired',
          { orderId: r.order_id, productId: r.product_id, quantity: r.quantity },
          { correlationId: r.order_id },
        );
        await enqueueMessages(m, [event]);
        this.log.warn({
          msg: 'reservation expired and released',
          correlationId: r.order_id,
          productId: r.product_id,
          quantity: r.quantity,
        });
      }
      return rows.length;
    });
  }

  // ------------------------------------------------------------------ helpers

  /** Locks the reservation (the fence), if there is one. */
  private async lockFence(
    m: EntityManager,
    orderId: string,
    productId: string,
  ): Promise<FenceRow | undefined> {
    const rows = await m.query<FenceRow[]>(
      'SELECT status, quantity, replies FROM reservations WHERE order_id = $1 AND product_id = $2 FOR UPDATE',
      [orderId, productId],
    );
    return rows[0];
  }

  private async rejectTry(
    m: EntityManager,
    command: Command<'StockTry'>,
    insert: boolean,
    reason: 'OUT_OF_STOCK' | 'UNKNOWN_PRODUCT' | 'DEADLINE_PASSED' | 'ALREADY_CANCELLED',
  ): Promise<StockReply> {
    const { orderId, productId, quantity } = command.payload;
    const reply = replyTo(command, 'StockRejected', { orderId, productId, reason });
    if (insert) {
      await m.query(
        `INSERT INTO reservations (order_id, product_id, quantity, status, reason, replies)
         VALUES ($1, $2, $3, 'REJECTED', $4, jsonb_build_object('try', $5::jsonb))`,
        [orderId, productId, quantity, reason, JSON.stringify(reply)],
      );
    } else {
      await this.replies.record(m, [orderId, productId], 'try', reply);
    }
    return this.replies.answer(reply, `try for ${productId} rejected: ${reason}`);
  }

  private async refuse(
    m: EntityManager,
    command: Command<'StockConfirm' | 'StockCancel' | 'StockReturn'>,
    row: FenceRow | undefined,
    phase: Phase,
    type: 'StockConfirmRefused' | 'StockCancelRefused' | 'StockReturnRefused',
    reason: RefuseReason,
  ): Promise<StockReply> {
    const { orderId, productId } = command.payload;
    const reply = replyTo(command, type, { orderId, productId, reason });
    if (row) await this.replies.record(m, [orderId, productId], phase, reply);
    return this.replies.answer(reply, `${phase} for ${productId} refused: ${reason}`);
  }
}
