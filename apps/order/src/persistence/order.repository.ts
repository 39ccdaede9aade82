import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { isBatchConflict, PLAIN_INDEX_SCANS, preparedQuery } from '@tcc/database';
import { outboxRows, writeAndWake } from '@tcc/outbox';
import type { OutgoingMessage } from '@tcc/outbox';
import { CommandSender } from '../messaging/command-sender';
import {
  placeOrders,
  selectByIdempotencyKey,
  selectDue,
  selectInProgressCount,
  selectOrder,
  selectOrders,
  selectView,
  writeStep,
  writeSteps,
} from './order.sql';
import type { Due, NewOrder, OrderChange, Sending, Statement } from './order.sql';
import { toStoredOrder } from './order-rows';
import type { LineRow, OrderRow, StoredOrder, ViewRow } from './order-rows';

/** A transaction the repository runs statements in (eachDue hands it out). */
export type OrderTransaction = Pick<EntityManager, 'query'>;

/**
 * The commands a statement committed to the outbox that this service sends itself (CommandSender):
 * the rows' ids, in order, and the messages with their headers. Empty when the relay sends them.
 */
export interface Committed {
  outboxIds?: readonly string[];
  commands: OutgoingMessage[];
}

type OrderWithLines = OrderRow & { lines: LineRow[] };

/**
 * The order service's database: every statement of the saga runs here (their text in order.sql.ts).
 * A statement that commits on its own is prepared (planned once per connection) and writes
 * commands for this service to send (CommandSender); one inside a transaction is neither, and
 * leaves its commands to the relay.
 */
@Injectable()
export class OrderRepository {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly sender: CommandSender,
  ) {}

  /** How a statement committing on its own has its commands sent. */
  private get alone(): Sending {
    const relayAfterMs = this.sender.relayAfterMs;
    return relayAfterMs === undefined ? {} : { relayAfterMs };
  }

  /**
   * Places orders in ONE statement, each whole or not at all. Answers, per order, the order as
   * written (lines and timeline included: POST /orders answers with it, no second query), or
   * undefined when its idempotency key was taken already (then nothing of it is written).
   */
  async place(
    orders: readonly NewOrder[],
  ): Promise<{ placed: (ViewRow | undefined)[]; committed: Committed }> {
    const { text, values } = placeOrders(orders, this.alone);
    const created = await writeAndWake<(ViewRow & { outbox_ids?: string[] })[]>(this.db, text, values);
    const byId = new Map(created.map(({ outbox_ids: _ids, ...row }) => [row.id, row]));
    const messages = orders.flatMap((o) => o.messages.map((m) => ({ m, headers: o.headers })));
    // the commands of the orders this statement created (a taken idempotency key wrote none)
    const commands = outboxRows(
      messages.map((c) => c.m),
      { headersEach: messages.map((c) => c.headers) },
    ).filter((r) => byId.has(r.message.correlationId));
    return {
      placed: orders.map((o) => byId.get(o.start.state.orderId)),
      committed: { outboxIds: created[0]?.outbox_ids, commands },
    };
  }

  /** The order `customerId` placed under `key`, with the hash of the request that placed it. */
  async findByIdempotencyKey(
    customerId: string,
    key: string,
  ): Promise<{ id: string; requestHash: string } | undefined> {
    const { text, values } = selectByIdempotencyKey(customerId, key);
    const [row] = await this.db.query<{ id: string; request_hash: string }[]>(text, values);
    return row && { id: row.id, requestHash: row.request_hash };
  }

  /** The order as a saga step reads it: one query. */
  async load(orderId: string, tx?: OrderTransaction): Promise<StoredOrder | undefined> {
    const [o] = await this.run<OrderWithLines[]>(tx, selectOrder(orderId));
    return o && toStoredOrder(o);
  }

  /** The orders as saga steps read them, in one query. */
  async loadMany(orderIds: readonly string[]): Promise<Map<string, StoredOrder>> {
    const { text, values } = selectOrders(orderIds);
    const rows = await preparedQuery<OrderWithLines[]>(this.db, text, values);
    return new Map(rows.map((o) => [o.id, toStoredOrder(o)]));
  }

  /**
   * Writes one step in one statement, if the order is still at the version the step read;
   * 'conflict' (nothing written) if another step changed it since.
   */
  async write(change: OrderChange, tx?: OrderTransaction): Promise<Committed | 'conflict'> {
    const written = await this.run<{ outbox_ids?: string[] }[]>(tx, writeStep(change, tx ? {} : this.alone));
    if (written.length !== 1) return 'conflict';
    if (tx) return { commands: [] }; // commits later: the relay's to send
    // still in the step's trace: the rows get the headers outboxInsert gave them
    return { outboxIds: written[0]?.outbox_ids, commands: outboxRows(change.messages) };
  }

  /**
   * Writes the steps of a run of replies in one statement (order.sql.ts writeSteps), or nothing at
   * all ('conflict') if any of their orders moved since it was read.
   */
  async writeAll(
    steps: readonly OrderChange[],
    headersEach: readonly Record<string, string>[],
  ): Promise<Committed | 'conflict'> {
    const { text, values } = writeSteps(steps, headersEach, this.alone);
    let written: { outbox_ids?: string[] } | undefined;
    try {
      [written] = await writeAndWake<{ outbox_ids?: string[] }[]>(this.db, text, values);
    } catch (error) {
      if (isBatchConflict(error)) return 'conflict';
      throw error;
    }
    const messages = steps.flatMap((s) => s.messages);
    return { outboxIds: written?.outbox_ids, commands: outboxRows(messages, { headersEach }) };
  }

  /** The order with its lines and timeline, as the API shows it: one prepared statement. */
  async view(orderId: string): Promise<ViewRow | undefined> {
    const { text, values } = selectView(orderId);
    const [order] = await preparedQuery<ViewRow[]>(this.db, text, values);
    return order;
  }

  /**
   * Locks up to `limit` orders that are `due`, in one transaction, and runs `each` on every one
   * inside it (its statements go through `tx`). Returns how many it locked.
   */
  eachDue(
    due: Due,
    limit: number,
    each: (orderId: string, tx: OrderTransaction) => Promise<void>,
  ): Promise<number> {
    return this.db.transaction(async (tx) => {
      await tx.query(PLAIN_INDEX_SCANS);
      const { text, values } = selectDue(due, limit);
      const rows = await tx.query<{ id: string }[]>(text, values);
      for (const { id } of rows) await each(id, tx);
      return rows.length;
    });
  }

  /** The orders neither confirmed nor cancelled, across every instance. */
  async countInProgress(): Promise<number> {
    const { text, values } = selectInProgressCount();
    const [row] = await this.db.query<{ n: number }[]>(text, values);
    return row?.n ?? 0;
  }

  /** A statement on its own is prepared; one in a transaction runs there. */
  private run<T>(tx: OrderTransaction | undefined, { text, values }: Statement): Promise<T> {
    return tx ? tx.query<T>(text, values) : writeAndWake<T>(this.db, text, values);
  }
}
