import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { batchExpect, Coalescer, isBatchConflict, PLAIN_INDEX_SCANS, preparedQuery } from '@tcc/database';
import { replyHeaders } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { createMessage } from '@tcc/contracts';
import type { OrderReply, SagaMessage } from '@tcc/contracts';
import { childSpan, counter, currentTrace, histogram, runInTrace, withLogContext } from '@tcc/observability';
import {
  DirectPublisher,
  NOTIFY_OUTBOX,
  outboxHeaders,
  outboxIdsOf,
  outboxInsert,
  outboxRows,
  OutboxRelay,
  SqlParams,
  writeAndWake,
} from '@tcc/outbox';
import type { OutboxInsertOptions, OutgoingMessage } from '@tcc/outbox';
import { ORDER_SETTINGS } from '../order.settings';
import { newOrderId } from './order-id';
import type { OrderSettings } from '../order.settings';
import { decide, startSaga } from '../saga/order-saga';
import type {
  BranchState,
  CancelReason,
  OrderStatus,
  PaymentState,
  SagaDecision,
  SagaEvent,
  SagaState,
} from '../saga/order-saga';

export interface PlaceOrder {
  customerId: string;
  lines: { productId: string; quantity: number }[];
}

export type PlaceResult =
  | { kind: 'created'; orderId: string; order: OrderView }
  | { kind: 'replayed' | 'key-reused'; orderId: string };

export interface OrderView {
  id: string;
  customerId: string;
  status: OrderStatus;
  reason: CancelReason | null;
  reasonDetail: string | null;
  total: number | null;
  lines: { productId: string; quantity: number; unitPrice: number | null; state: BranchState }[];
  payment: { state: PaymentState };
  deadlineAt: string;
  createdAt: string;
  updatedAt: string;
  timeline: { participant: string; state: string; detail: string | null; at: string }[];
}

interface OrderRow {
  id: string;
  customer_id: string;
  status: OrderStatus;
  reason: CancelReason | null;
  reason_detail: string | null;
  total: string | null;
  payment_state: PaymentState;
  deadline_at: Date;
  hold_until: Date;
  retry_count: number;
  idempotency_key: string;
  request_hash: string;
  trace_id: string | null;
  version: number;
  applied: string[];
  created_at: Date;
  updated_at: Date;
}
/** An order as one saga step read it. */
interface Loaded {
  state: SagaState;
  version: number;
  retryCount: number;
  createdAt: Date;
  traceId: string | null;
  /** the message ids of the replies applied to the order (orders.applied) */
  applied: readonly string[];
}
/** Runs one statement: the data source (autocommit) or a transaction's manager. */
type Executor = Pick<EntityManager, 'query'>;

/** A step that keeps losing the race for its order gives up; the consumer retries it with backoff. */
const MAX_CONFLICTS = 20;
/** Orders kept in memory after a step, so the next reply need not read them (see `recent`). */
const RECENT_ORDERS = 10_000;
/** Most orders one placing statement writes. */
const PLACEMENTS_PER_STATEMENT = 100;
/**
 * How long the relay leaves a command to the service that wrote it (sendWritten) before it sends
 * it itself: far longer than Kafka takes to acknowledge, so the relay sends only what a writer
 * could not (it died, Kafka was away); a command both send is a duplicate the participants' fences
 * answer once.
 */
const WRITER_GRACE_MS = 5_000;

/** One POST /orders as its statement writes it. */
interface Placement {
  idempotencyKey: string;
  requestHash: string;
  deadline: Date;
  holdUntil: Date;
  traceId: string | null;
  decision: SagaDecision;
  /** the first commands, their ids fixed */
  messages: SagaMessage[];
  /** their outbox headers: the placing request's span as their parent */
  headers: Record<string, string>;
}

/** What a step did: written (with the order as it is now), lost the version race, or a duplicate. */
type StepOutcome = { finished: Finished[]; next: Loaded } | 'conflict' | 'duplicate';
/** A reply of a batch, decided: the order before it and what it did. */
interface BatchStep {
  message: BatchedMessage<OrderReply>;
  before: Loaded;
  advanced: Advanced;
}
/** One event applied in memory: what the saga decided and the order after it. */
interface Advanced {
  decision: SagaDecision;
  retry: Retry;
  next: Loaded;
  entered: boolean;
  finished: Finished[];
  event: SagaEvent;
  /** the decision's commands as messages (their ids fixed now) */
  messages: SagaMessage[];
}
interface LineRow {
  line_no: number;
  product_id: string;
  quantity: number;
  unit_price: string | null;
  state: BranchState;
}

/**
 * The order service's side of the saga. Every change to an order (placing it, a reply, a deadline,
 * a retry) reads the order, asks the pure saga (saga/order-saga.ts) what follows, and writes the
 * new state, the lines, the timeline, the reply's message id and the commands (outbox) in ONE
 * statement, guarded by the order's version: if another step changed the order since it was read,
 * nothing is written and the step reads again. So an order is never stored without its commands,
 * a reply is never applied twice (its message id is inserted by the same statement, and a second
 * insert fails it), and no lock is held while the saga decides.
 *
 * The orders this instance wrote last are kept in memory with their version, so a reply usually
 * costs one round trip: the write. A stale copy (another instance or the scheduler moved the
 * order) only loses the version race and is read again.
 */
@Injectable()
export class OrderSagaService {
  private readonly log = new Logger('order');
  /** orders as this instance last wrote them, oldest first (Map order); final orders leave */
  private readonly recent = new Map<string, Loaded>();
  /** the placements of concurrent requests, written together (see placeAll) */
  private readonly placements = new Coalescer<Placement, ViewRow | undefined>((jobs) => this.placeAll(jobs), {
    maxJobs: PLACEMENTS_PER_STATEMENT,
    // one key per statement: a second request under it must see the first one's order
    key: (job) => job.idempotencyKey,
  });

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(ORDER_SETTINGS) private readonly settings: OrderSettings,
    // without them (a test of the statements alone) every command is the relay's to send
    @Optional() private readonly publisher?: DirectPublisher,
    @Optional() private readonly relay?: OutboxRelay,
  ) {}

  /**
   * How a statement that commits on its own writes its commands: sent by this service as soon as
   * it has committed (sendWritten), the relay's only after WRITER_GRACE_MS. Without a publisher:
   * the relay's at once, woken by the statement's NOTIFY.
   */
  private get sentByWriter(): Pick<OutboxInsertOptions, 'relayAfterMs'> {
    return this.publisher && this.relay ? { relayAfterMs: WRITER_GRACE_MS } : {};
  }

  /** The final SELECT's extra columns of a statement with an outbox part `ob`. */
  private get outboxColumns(): string {
    return this.publisher && this.relay ? `, ${outboxIdsOf('ob')}` : `, ${NOTIFY_OUTBOX}`;
  }

  /**
   * Sends the commands a statement has just committed to the outbox (their rows' `ids`, in
   * order), and has the relay delete them once Kafka took them. A send that does not happen
   * (Kafka away, the process stopping) leaves them to the relay, after WRITER_GRACE_MS.
   */
  private sendWritten(ids: readonly string[] | undefined, rows: readonly OutgoingMessage[]): void {
    const { publisher, relay } = this;
    if (!publisher || !relay || rows.length === 0) return;
    if (ids?.length !== rows.length) {
      this.log.warn({
        msg: 'outbox rows and commands differ; the relay sends them',
        ids,
        commands: rows.length,
      });
      return;
    }
    publisher.publish(rows).then(
      () => relay.acknowledge(ids),
      () => undefined, // stopping: the relay's
    );
  }

  /**
   * Places an order under an idempotency key: the same key with the same request returns the
   * same order; with another request it is refused. Lines naming one product twice are merged.
   */
  async place(request: PlaceOrder, idempotencyKey: string): Promise<PlaceResult> {
    const requestHash = hashRequest(request);
    const lines = mergeLines(request.lines);
    const orderId = newOrderId();
    const now = Date.now();
    const deadline = new Date(now + this.settings.tryTimeoutMs);
    const holdUntil = new Date(deadline.getTime() + this.settings.confirmWindowMs);
    const decision = startSaga({
      orderId,
      customerId: request.customerId,
      lines,
      deadline: deadline.toISOString(),
      holdUntil: holdUntil.toISOString(),
    });
    const { state } = decision;
    const traceId = currentTrace()?.traceId ?? null;
    const row = await this.placements.submit({
      idempotencyKey,
      requestHash,
      deadline,
      holdUntil,
      traceId,
      decision,
      messages: this.messages(decision, null),
      // the request's span is the parent of the commands it sends, whichever statement writes them
      headers: outboxHeaders(),
    });
    let result: PlaceResult;
    if (row) {
      this.log.log({ msg: 'order placed', correlationId: orderId, lines: lines.length });
      this.remember({
        state,
        version: 0,
        retryCount: 0,
        createdAt: new Date(now),
        traceId,
        applied: [],
      });
      result = { kind: 'created', orderId, order: toView(row) };
    } else {
      // another request took this key (perhaps a moment ago, concurrently: the insert waited for it)
      const [existing] = await this.db.query<{ id: string; request_hash: string }[]>(
        'SELECT id, request_hash FROM orders WHERE idempotency_key = $1',
        [idempotencyKey],
      );
      if (!existing) throw new Error(`idempotency key ${idempotencyKey} vanished`);
      result = {
        kind: existing.request_hash === requestHash ? 'replayed' : 'key-reused',
        orderId: existing.id,
      };
    }
    if (result.kind === 'created') sagaMetrics.started.inc();
    return result;
  }

  /**
   * Places orders in ONE statement: each order, its lines, its timeline and its first commands, all
   * or nothing per order. An order whose idempotency key is taken already is not written (nor its
   * lines or commands), and answers undefined; the others answer the order as written, which
   * POST /orders answers with: no second query. The placements of concurrent requests come here
   * together (`placements`), so under load an order no longer pays a statement and a commit alone.
   */
  private async placeAll(jobs: readonly Placement[]): Promise<(ViewRow | undefined)[]> {
    const states = jobs.map((j) => j.decision.state);
    const lines = states.flatMap((s) => s.lines.map((l, i) => ({ orderId: s.orderId, n: i + 1, ...l })));
    const commands = jobs.flatMap((j) => j.messages.map((m) => ({ m, job: j })));
    const p = new SqlParams();
    const o = [
      p.add(
        states.map((s) => s.orderId),
        'uuid[]',
      ),
      p.add(
        states.map((s) => s.customerId),
        'text[]',
      ),
      p.add(
        states.map((s) => s.status),
        'text[]',
      ),
      p.add(
        jobs.map((j) => j.idempotencyKey),
        'text[]',
      ),
      p.add(
        jobs.map((j) => j.requestHash),
        'text[]',
      ),
      p.add(
        jobs.map((j) => j.deadline),
        'timestamptz[]',
      ),
      p.add(
        jobs.map((j) => j.holdUntil),
        'timestamptz[]',
      ),
      p.add(
        states.map((s) => s.payment),
        'text[]',
      ),
      p.add(
        jobs.map((j) => j.traceId),
        'text[]',
      ),
    ];
    const l = [
      p.add(
        lines.map((x) => x.orderId),
        'uuid[]',
      ),
      p.add(
        lines.map((x) => x.n),
        'int[]',
      ),
      p.add(
        lines.map((x) => x.productId),
        'text[]',
      ),
      p.add(
        lines.map((x) => x.quantity),
        'int[]',
      ),
      p.add(
        lines.map((x) => x.state),
        'text[]',
      ),
    ];
    const headersEach = commands.map((c) => c.job.headers);
    const outbox = outboxInsert(
      p,
      commands.map((c) => c.m),
      {
        headersEach,
        joinEach: { part: 'o', column: 'id', values: commands.map((c) => c.m.correlationId), cast: 'uuid' },
        ...this.sentByWriter,
      },
    );
    const created = await writeAndWake<(ViewRow & { outbox_ids?: string[] })[]>(
      this.db,
      `WITH v AS (
         SELECT * FROM unnest(${o.join(', ')}) WITH ORDINALITY
             AS v(id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until, payment_state,
                  trace_id, n)),
       o AS (
         INSERT INTO orders (id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until,
                             payment_state, trace_id)
         SELECT id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until, payment_state, trace_id
           FROM v ORDER BY v.n
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING *),
       l AS (
         INSERT INTO order_lines (order_id, line_no, product_id, quantity, state)
         SELECT x.order_id, x.line_no, x.product_id, x.quantity, x.state
           FROM unnest(${l.join(', ')}) AS x(order_id, line_no, product_id, quantity, state)
           JOIN o ON o.id = x.order_id
         RETURNING *),
       t AS (${timelineRows(
         p,
         jobs.map((j) => j.decision),
         'o',
       )} RETURNING *),
       ob AS (${outbox})
       SELECT o.*, (SELECT json_agg(l ORDER BY l.line_no) FROM l WHERE l.order_id = o.id) AS lines,
              (SELECT ${timelineOf('t')} FROM t WHERE t.order_id = o.id) AS timeline${this.outboxColumns}
         FROM o`,
      p.values,
    );
    const byId = new Map(created.map(({ outbox_ids: _ids, ...row }) => [row.id, row]));
    // the commands of the orders this statement created (a taken idempotency key wrote none)
    const rows = outboxRows(
      commands.map((c) => c.m),
      { headersEach },
    ).filter((r) => byId.has(r.message.correlationId));
    this.sendWritten(created[0]?.outbox_ids, rows);
    return states.map((s) => byId.get(s.orderId));
  }

  /** Applies one reply from stock or payment; a reply seen before (same message id) is skipped. */
  async handleReply(reply: OrderReply): Promise<void> {
    const { orderId } = reply.payload;
    for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
      const loaded = this.recent.get(orderId) ?? (await this.load(this.db, orderId));
      if (!loaded) {
        this.log.warn({
          msg: 'reply for an unknown order ignored',
          type: reply.type,
          orderId: reply.payload.orderId,
        });
        return;
      }
      // a stale copy that lacks the id only loses the version race, and is read again
      const outcome = loaded.applied.includes(reply.messageId)
        ? 'duplicate'
        : await this.step(this.db, loaded, reply, reply);
      if (outcome === 'duplicate') {
        this.log.log({ msg: 'duplicate reply skipped', type: reply.type, messageId: reply.messageId });
        return;
      }
      if (outcome === 'conflict') {
        this.recent.delete(orderId);
        continue;
      }
      this.remember(outcome.next);
      return recordFinished(outcome.finished);
    }
    throw new Error(
      `order ${reply.payload.orderId} changed under ${MAX_CONFLICTS} attempts to apply ${reply.type}`,
    );
  }

  /**
   * Applies a run of replies (one partition of tcc.order.replies, in offset order) in ONE
   * statement. Each reply is decided in memory, from the order as this instance last wrote it (the
   * orders not in memory are read first, in one query), a second reply to the same order from the
   * first one's result. The statement updates each order once, guarded by the version it had, with
   * all the replies' lines, timeline entries, message ids and commands; if any order moved since, it
   * fails whole (tcc_expect) and the replies go one by one. A reply applied before cuts the run
   * just before it. Returns how many leading replies were written; the reply the run stops at
   * (unknown order, duplicate) goes to handleReply.
   */
  async handleBatch(messages: readonly BatchedMessage<OrderReply>[]): Promise<number> {
    if (messages.length < 2) return 0;
    const orderIds = [...new Set(messages.map((m) => m.envelope.payload.orderId))];
    const missing = orderIds.filter((id) => !this.recent.has(id));
    const read = missing.length > 0 ? await this.loadMany(missing) : new Map<string, Loaded>();
    const steps = this.applyInMemory(messages, read);
    if (steps.length === 0) return 0;
    try {
      await this.writeBatch(steps);
    } catch (error) {
      for (const id of orderIds) this.recent.delete(id);
      if (isBatchConflict(error)) return 0;
      throw error;
    }
    for (const step of steps) this.remember(step.advanced.next);
    for (const { message, before, advanced } of steps) {
      await message.within(() => this.logEntered(before, advanced));
    }
    recordFinished(steps.flatMap((s) => s.advanced.finished));
    return steps.length;
  }

  /** Decides the leading replies of a batch, each from the order as the replies before left it. */
  private applyInMemory(
    messages: readonly BatchedMessage<OrderReply>[],
    read: ReadonlyMap<string, Loaded>,
  ): BatchStep[] {
    const current = new Map<string, Loaded>();
    const steps: BatchStep[] = [];
    for (const message of messages) {
      const reply = message.envelope;
      const { orderId } = reply.payload;
      const before = current.get(orderId) ?? this.recent.get(orderId) ?? read.get(orderId);
      // the order's applied ids include the replies before this one in the run
      if (!before || before.applied.includes(reply.messageId)) break;
      const advanced = this.advance(before, reply, reply);
      current.set(orderId, advanced.next);
      steps.push({ message, before, advanced });
    }
    return steps;
  }

  /**
   * Writes decided replies in one statement: every order changed (once, to its last state, guarded
   * by the version its first reply saw), its lines, the timeline, the replies' ids and the
   * commands, in reply order.
   */
  private async writeBatch(steps: readonly BatchStep[]): Promise<void> {
    const orders = new Map<string, { from: number; last: Advanced; retry: Retry; count: number }>();
    for (const { before, advanced } of steps) {
      const id = advanced.next.state.orderId;
      const seen = orders.get(id);
      const retry = advanced.retry === 'keep' ? (seen?.retry ?? 'keep') : advanced.retry;
      orders.set(id, {
        from: seen?.from ?? before.version,
        last: advanced,
        retry,
        count: (seen?.count ?? 0) + 1,
      });
    }
    const changed = [...orders.values()];
    const states = changed.map((o) => o.last.next.state);
    const lines = states.flatMap((s) => s.lines.map((l) => ({ orderId: s.orderId, ...l })));
    const commands = steps.flatMap((s) => s.advanced.messages.map((m) => ({ m, from: s.message })));
    const headersEach = await replyHeaders(commands.map((c) => c.from));
    const keep = (o: (typeof changed)[number]) => o.retry === 'keep';
    const p = new SqlParams();
    const v = [
      p.add(
        states.map((s) => s.orderId),
        'uuid[]',
      ),
      p.add(
        changed.map((o) => o.from),
        'int[]',
      ),
      p.add(
        changed.map((o) => o.count),
        'int[]',
      ),
      p.add(
        states.map((s) => s.status),
        'text[]',
      ),
      p.add(
        states.map((s) => s.reason),
        'text[]',
      ),
      p.add(
        states.map((s) => s.reasonDetail),
        'text[]',
      ),
      p.add(
        states.map((s) => s.total),
        'bigint[]',
      ),
      p.add(
        states.map((s) => s.payment),
        'text[]',
      ),
      p.add(changed.map(keep), 'boolean[]'),
      p.add(
        changed.map((o) => (o.retry === 'keep' ? null : o.retry.at)),
        'timestamptz[]',
      ),
      p.add(
        changed.map((o) => (o.retry === 'keep' ? 0 : o.retry.count)),
        'int[]',
      ),
      // every order's applied reply ids, whole (its version guards them): one array literal each
      p.add(
        changed.map((o) => `{${o.last.next.applied.join(',')}}`),
        'text[]',
      ),
    ];
    const l = [
      p.add(
        lines.map((x) => x.orderId),
        'uuid[]',
      ),
      p.add(
        lines.map((x) => x.productId),
        'text[]',
      ),
      p.add(
        lines.map((x) => x.state),
        'text[]',
      ),
      p.add(
        lines.map((x) => x.unitPrice),
        'bigint[]',
      ),
    ];
    const outbox = outboxInsert(
      p,
      commands.map((c) => c.m),
      { headersEach, ...this.sentByWriter },
    );
    const expected = p.add(changed.length, 'bigint');
    const [written] = await writeAndWake<{ outbox_ids?: string[] }[]>(
      this.db,
      `WITH v AS (
         SELECT * FROM unnest(${v.join(', ')})
             AS v(id, version, steps, status, reason, reason_detail, total, payment_state, keep_retry, next_retry_at, retry_count,
                  applied)),
       o AS (
         UPDATE orders SET status = v.status, reason = v.reason, reason_detail = v.reason_detail, total = v.total,
                payment_state = v.payment_state,
                next_retry_at = CASE WHEN v.keep_retry THEN orders.next_retry_at ELSE v.next_retry_at END,
                retry_count = CASE WHEN v.keep_retry THEN orders.retry_count ELSE v.retry_count END,
                version = orders.version + v.steps, applied = v.applied::uuid[], updated_at = now()
           FROM v WHERE orders.id = v.id AND orders.version = v.version
          RETURNING orders.id),
       l AS (
         UPDATE order_lines ol SET state = x.state, unit_price = x.unit_price
           FROM unnest(${l.join(', ')}) AS x(order_id, product_id, state, unit_price)
          WHERE ol.order_id = x.order_id AND ol.product_id = x.product_id),
       t AS (${timelineRows(
         p,
         steps.map((step) => step.advanced.decision),
       )}),
       ob AS (${outbox})
       SELECT ${batchExpect(`(SELECT count(*) FROM o) = ${expected}`, 'orders moved since they were read')}
              ${this.outboxColumns}`,
      p.values,
    );
    this.sendWritten(
      written?.outbox_ids,
      outboxRows(
        commands.map((c) => c.m),
        { headersEach },
      ),
    );
  }

  /** Cancels orders whose try phase passed its deadline. Returns how many it looked at. */
  async expireDeadlines(limit = 100): Promise<number> {
    return this.due(
      `SELECT id FROM orders WHERE status = 'TRYING' AND deadline_at < now()
        ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      limit,
      { type: 'DeadlinePassed' },
    );
  }

  /** Sends confirm/cancel again to participants that have not answered in time. */
  async retryUnanswered(limit = 100): Promise<number> {
    return this.due(
      `SELECT id FROM orders WHERE status IN ('CONFIRMING', 'CANCELLING') AND next_retry_at < now()
        ORDER BY next_retry_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
      limit,
      { type: 'RetryDue' },
    );
  }

  async view(orderId: string): Promise<OrderView | undefined> {
    // one prepared statement, lines and timeline included
    const [order] = await preparedQuery<ViewRow[]>(
      this.db,
      `SELECT o.*, ${LINES_OF_O},
              (SELECT ${timelineOf('t')} FROM order_timeline t WHERE t.order_id = o.id) AS timeline
         FROM orders o WHERE o.id = $1`,
      [orderId],
    );
    return order && toView(order);
  }

  // ------------------------------------------------------------------ internals

  /** Steps the due orders, locked (SKIP LOCKED) so instances share them, in one transaction. */
  private async due(sql: string, limit: number, event: SagaEvent): Promise<number> {
    const finished: Finished[] = [];
    const count = await this.db.transaction(async (m) => {
      await m.query(PLAIN_INDEX_SCANS);
      const rows = await m.query<{ id: string }[]>(sql, [limit]);
      for (const { id } of rows) {
        const loaded = await this.load(m, id);
        if (!loaded) continue;
        // a deadline or retry is a new span in the order's own trace
        const span = childSpan(loaded.traceId ? { traceId: loaded.traceId } : undefined);
        const done = await runInTrace(span, () =>
          withLogContext({ correlationId: id, traceId: span.traceId, spanId: span.spanId }, () =>
            this.step(m, loaded, event, null),
          ),
        );
        // the row is locked by this transaction, so its version cannot have moved
        if (done === 'conflict' || done === 'duplicate') throw new Error(`order ${id} changed while locked`);
        this.recent.delete(id); // remembered only once the transaction commits: read it next time
        finished.push(...done.finished);
      }
      return rows.length;
    });
    recordFinished(finished);
    return count;
  }

  /**
   * Decides what `event` does to the order and writes it, if the order is still at the version
   * it was read at. Returns the orders that reached a final state, or 'conflict' to read again.
   */
  private async step(
    db: Executor,
    loaded: Loaded,
    event: SagaEvent,
    cause: SagaMessage | null,
  ): Promise<StepOutcome> {
    const advanced = this.advance(loaded, event, cause);
    const written = await this.write(db, advanced, loaded.version, cause);
    if (written !== 'written') return written;
    this.logEntered(loaded, advanced);
    return { finished: advanced.finished, next: advanced.next };
  }

  /** What `event` does to the order as `loaded` has it: the decision and the order after it. */
  private advance(loaded: Loaded, event: SagaEvent, cause: SagaMessage | null): Advanced {
    const { state, version, retryCount, createdAt } = loaded;
    const decision = decide(state, event);
    const { status, reason } = decision.state;
    const entered = status !== state.status;
    const retry = this.nextRetry(decision.state, entered, event, retryCount);
    const next: Loaded = {
      ...loaded,
      state: decision.state,
      version: version + 1,
      retryCount: retry === 'keep' ? retryCount : retry.count,
      // the reply is applied with this step; a deadline or retry has no message id
      applied: cause ? [...loaded.applied, cause.messageId] : loaded.applied,
    };
    const finished: Finished[] =
      entered && (status === 'CONFIRMED' || status === 'CANCELLED')
        ? [{ status, reason, seconds: (Date.now() - createdAt.getTime()) / 1000 }]
        : [];
    return { decision, retry, next, entered, finished, event, messages: this.messages(decision, cause) };
  }

  private logEntered(before: Loaded, { entered, decision, event }: Advanced): void {
    if (!entered) return;
    const { status, reason, reasonDetail } = decision.state;
    this.log.log({
      msg: `order ${status.toLowerCase()}`,
      from: before.state.status,
      reason,
      detail: reasonDetail,
      after: event.type,
    });
  }

  /** A statement on its own is prepared (planned once per connection); one in a transaction is not. */
  private run<T>(db: Executor, sql: string, values: unknown[]): Promise<T> {
    return db === this.db ? writeAndWake<T>(this.db, sql, values) : db.query<T>(sql, values);
  }

  /** Keeps the order for the next reply, while it is not final; the oldest leave first. */
  private remember(order: Loaded): void {
    const { orderId, status } = order.state;
    this.recent.delete(orderId);
    if (status === 'CONFIRMED' || status === 'CANCELLED') return;
    this.recent.set(orderId, order);
    if (this.recent.size > RECENT_ORDERS) {
      const oldest = this.recent.keys().next();
      if (!oldest.done) this.recent.delete(oldest.value);
    }
  }

  /** The order with its lines, and whether `messageId` was applied to it before: one query. */
  private async load(db: Executor, orderId: string): Promise<Loaded | undefined> {
    const [o] = await this.run<(OrderRow & { lines: LineRow[] })[]>(
      db,
      `SELECT o.*, ${LINES_OF_O} FROM orders o WHERE o.id = $1`,
      [orderId],
    );
    return o && toLoaded(o);
  }

  /** The orders with their lines, in one query. */
  private async loadMany(orderIds: readonly string[]): Promise<Map<string, Loaded>> {
    const rows = await preparedQuery<(OrderRow & { lines: LineRow[] })[]>(
      this.db,
      `SELECT o.*, ${LINES_OF_O} FROM orders o WHERE o.id = ANY($1::uuid[])`,
      [orderIds],
    );
    return new Map(rows.map((o) => [o.id, toLoaded(o)]));
  }

  /**
   * Confirm/cancel are sent again until every participant has answered: soon after the phase
   * starts, then backing off exponentially up to the maximum.
   */
  private nextRetry(state: SagaState, entered: boolean, event: SagaEvent, count: number): Retry {
    if (state.status !== 'CONFIRMING' && state.status !== 'CANCELLING') return { at: null, count: 0 };
    const { retryInitialMs, retryMaxMs } = this.settings;
    if (entered) return { at: new Date(Date.now() + retryInitialMs), count: 0 };
    if (event.type === 'RetryDue') {
      return {
        at: new Date(Date.now() + Math.min(retryMaxMs, retryInitialMs * 2 ** (count + 1))),
        count: count + 1,
      };
    }
    return 'keep';
  }

  /**
   * Writes a decision in one statement: the order (only if still at `version`) with the cause's
   * message id added to its applied ones (so it is never applied twice), its lines, the timeline
   * and the commands (outbox). Every part but the order's own update is added once per row that
   * update returns, so a lost race writes nothing.
   */
  private async write(
    db: Executor,
    { decision, retry, messages }: Advanced,
    version: number,
    cause: SagaMessage | null,
  ): Promise<'written' | 'conflict'> {
    const { state } = decision;
    const p = new SqlParams();
    const keep = retry === 'keep';
    const parts = [
      `o AS (
         UPDATE orders SET status = ${p.add(state.status)}, reason = ${p.add(state.reason)},
                reason_detail = ${p.add(state.reasonDetail)}, total = ${p.add(state.total, 'bigint')},
                payment_state = ${p.add(state.payment)},
                next_retry_at = ${keep ? 'next_retry_at' : p.add(retry.at, 'timestamptz')},
                retry_count = ${keep ? 'retry_count' : p.add(retry.count, 'integer')},
                applied = ${cause ? `array_append(applied, ${p.add(cause.messageId, 'uuid')})` : 'applied'},
                version = version + 1, updated_at = now()
          WHERE id = ${p.add(state.orderId)} AND version = ${p.add(version, 'integer')}
          RETURNING id)`,
      `l AS (
         UPDATE order_lines ol SET state = v.state, unit_price = v.unit_price
           FROM o, unnest(${p.add(
             state.lines.map((l) => l.productId),
             'text[]',
           )}, ${p.add(
             state.lines.map((l) => l.state),
             'text[]',
           )}, ${p.add(
             state.lines.map((l) => l.unitPrice),
             'bigint[]',
           )}) AS v(product_id, state, unit_price)
          WHERE ol.order_id = o.id AND ol.product_id = v.product_id)`,
      `t AS (${this.timelineInsert(p, decision)})`,
    ];
    // a statement of a longer transaction (the due orders) commits later: its commands are the relay's
    const alone = db === this.db;
    if (messages.length > 0) {
      parts.push(
        `ob AS (${outboxInsert(p, messages, { onlyIf: 'o', ...(alone ? this.sentByWriter : {}) })})`,
      );
    }
    const columns = messages.length === 0 ? '' : alone ? this.outboxColumns : `, ${NOTIFY_OUTBOX}`;
    const written = await this.run<{ outbox_ids?: string[] }[]>(
      db,
      `WITH ${parts.join(',\n')} SELECT o.id${columns} FROM o`,
      p.values,
    );
    if (written.length !== 1) return 'conflict';
    // still in the step's trace: the rows get the headers outboxInsert gave them
    if (alone) this.sendWritten(written[0]?.outbox_ids, outboxRows(messages));
    return 'written';
  }

  /** The decision's timeline entries, added for the order part `o` (once it exists or changed). */
  private timelineInsert(p: SqlParams, { timeline }: SagaDecision): string {
    return `INSERT INTO order_timeline (order_id, participant, state, detail)
      SELECT o.id, v.participant, v.state, v.detail
        FROM o, unnest(${p.add(
          timeline.map((t) => t.participant),
          'text[]',
        )}, ${p.add(
          timeline.map((t) => t.state),
          'text[]',
        )}, ${p.add(
          timeline.map((t) => t.detail),
          'text[]',
        )}) WITH ORDINALITY AS v(participant, state, detail, n)
       ORDER BY v.n`;
  }

  private messages({ state, commands }: SagaDecision, cause: SagaMessage | null): SagaMessage[] {
    return commands.map((c) =>
      createMessage(c.type, c.payload as never, {
        correlationId: state.orderId,
        causationId: cause?.messageId ?? null,
      }),
    );
  }
}

/** An order row as read (with its lines) as the saga sees it. */
function toLoaded(o: OrderRow & { lines: LineRow[] }): Loaded {
  const state: SagaState = {
    orderId: o.id,
    customerId: o.customer_id,
    status: o.status,
    reason: o.reason,
    reasonDetail: o.reason_detail,
    lines: o.lines.map((l) => ({
      productId: l.product_id,
      quantity: l.quantity,
      unitPrice: l.unit_price === null ? null : Number(l.unit_price),
      state: l.state,
    })),
    payment: o.payment_state,
    total: o.total === null ? null : Number(o.total),
    deadline: new Date(o.deadline_at).toISOString(),
    holdUntil: new Date(o.hold_until).toISOString(),
  };
  return {
    state,
    version: o.version,
    retryCount: o.retry_count,
    createdAt: new Date(o.created_at),
    traceId: o.trace_id,
    applied: o.applied,
  };
}

/** An order row with its lines and timeline, as view() and place() read it. */
type ViewRow = OrderRow & {
  lines: LineRow[] | null;
  timeline: { participant: string; state: string; detail: string | null; at: string }[];
};

function toView(order: ViewRow): OrderView {
  return {
    id: order.id,
    customerId: order.customer_id,
    status: order.status,
    reason: order.reason,
    reasonDetail: order.reason_detail,
    total: order.total === null ? null : Number(order.total),
    lines: (order.lines ?? []).map((l) => ({
      productId: l.product_id,
      quantity: l.quantity,
      unitPrice: l.unit_price === null ? null : Number(l.unit_price),
      state: l.state,
    })),
    payment: { state: order.payment_state },
    deadlineAt: order.deadline_at.toISOString(),
    createdAt: order.created_at.toISOString(),
    updatedAt: order.updated_at.toISOString(),
    timeline: order.timeline.map((t) => ({ ...t, at: new Date(t.at).toISOString() })),
  };
}

/**
 * The INSERT of the timeline entries of several orders' decisions, in decision order, to be one
 * part (WITH) of a larger statement. With `onlyOrdersOf`, the name of a part returning orders, an
 * order's entries are added only if that part returned the order.
 */
function timelineRows(p: SqlParams, decisions: readonly SagaDecision[], onlyOrdersOf?: string): string {
  const entries = decisions.flatMap((d) => d.timeline.map((t) => ({ orderId: d.state.orderId, ...t })));
  const join = onlyOrdersOf ? `JOIN ${onlyOrdersOf} ON ${onlyOrdersOf}.id = x.order_id` : '';
  return `INSERT INTO order_timeline (order_id, participant, state, detail)
    SELECT x.order_id, x.participant, x.state, x.detail
      FROM unnest(${p.add(
        entries.map((x) => x.orderId),
        'uuid[]',
      )}, ${p.add(
        entries.map((x) => x.participant),
        'text[]',
      )}, ${p.add(
        entries.map((x) => x.state),
        'text[]',
      )}, ${p.add(
        entries.map((x) => x.detail),
        'text[]',
      )}) WITH ORDINALITY AS x(order_id, participant, state, detail, n) ${join}
     ORDER BY x.n`;
}

/** The timeline entries of `t` (order_timeline rows), oldest first, as a JSON array (an aggregate). */
function timelineOf(t: string): string {
  return `coalesce(json_agg(json_build_object('participant', ${t}.participant, 'state', ${t}.state,
                  'detail', ${t}.detail, 'at', ${t}.at) ORDER BY ${t}.id), '[]')`;
}

const LINES_OF_O = `(SELECT json_agg(l ORDER BY l.line_no) FROM order_lines l WHERE l.order_id = o.id) AS lines`;

interface Finished {
  status: 'CONFIRMED' | 'CANCELLED';
  reason: CancelReason | null;
  seconds: number;
}

const sagaMetrics = {
  started: counter({ name: 'tcc_sagas_started_total', help: 'Orders placed (sagas started)' }),
  finished: counter({
    name: 'tcc_sagas_finished_total',
    help: 'Sagas that reached a final state, by status and cancellation reason',
    labelNames: ['status', 'reason'],
  }),
  duration: histogram({
    name: 'tcc_saga_duration_seconds',
    help: 'From POST /orders to the final state',
    labelNames: ['status'],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  }),
};

/** Counted after the transaction committed, so a retried transaction is not counted twice. */
function recordFinished(finished: Finished[]): void {
  for (const f of finished) {
    sagaMetrics.finished.inc({ status: f.status, reason: f.reason ?? 'none' });
    sagaMetrics.duration.observe({ status: f.status }, f.seconds);
  }
}

type Retry = { at: Date | null; count: number } | 'keep';

function mergeLines(lines: PlaceOrder['lines']): PlaceOrder['lines'] {
  const merged = new Map<string, number>();
  for (const l of lines) merged.set(l.productId, (merged.get(l.productId) ?? 0) + l.quantity);
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }));
}

/** The same request hashes the same whatever its key order: customer, then lines as given. */
function hashRequest(request: PlaceOrder): string {
  const canonical = JSON.stringify({
    customerId: request.customerId,
    lines: request.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
  });
  return createHash('sha256').update(canonical).digest('hex');
}
