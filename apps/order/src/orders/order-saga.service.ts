import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { createMessage } from '@tcc/contracts';
import type { OrderReply, SagaMessage } from '@tcc/contracts';
import { childSpan, counter, currentTrace, histogram, runInTrace, withLogContext } from '@tcc/observability';
import { enqueueMessages } from '@tcc/outbox';
import { ORDER_SETTINGS } from '../order.settings';
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
  { kind: 'created' | 'replayed'; orderId: string } | { kind: 'key-reused'; orderId: string };

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
  created_at: Date;
  updated_at: Date;
}
interface Locked {
  state: SagaState;
  retryCount: number;
  createdAt: Date;
  traceId: string | null;
}
interface LineRow {
  line_no: number;
  product_id: string;
  quantity: number;
  unit_price: string | null;
  state: BranchState;
}

/**
 * The order service's side of the saga: every change to an order (placing it, a reply, a
 * deadline, a retry) is one transaction that locks the order row, asks the pure saga
 * (saga/order-saga.ts) what follows, and writes the new state, the timeline and the commands
 * (outbox) together. An order is never stored without its commands, nor commands sent for an
 * order that was rolled back.
 */
@Injectable()
export class OrderSagaService {
  private readonly log = new Logger('order');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(ORDER_SETTINGS) private readonly settings: OrderSettings,
  ) {}

  /**
   * Places an order under an idempotency key: the same key with the same request returns the
   * same order; with another request it is refused. Lines naming one product twice are merged.
   */
  async place(request: PlaceOrder, idempotencyKey: string): Promise<PlaceResult> {
    const requestHash = hashRequest(request);
    const lines = mergeLines(request.lines);
    const orderId = randomUUID();
    const now = Date.now();
    const deadline = new Date(now + this.settings.tryTimeoutMs);
    const holdUntil = new Date(deadline.getTime() + this.settings.confirmWindowMs);
    const result = await this.db.transaction(async (m): Promise<PlaceResult> => {
      const inserted = await m.query<{ id: string }[]>(
        `INSERT INTO orders (id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until, payment_state, trace_id)
         VALUES ($1, $2, 'TRYING', $3, $4, $5, $6, 'NOT_TRIED', $7)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
        [
          orderId,
          request.customerId,
          idempotencyKey,
          requestHash,
          deadline,
          holdUntil,
          currentTrace()?.traceId ?? null,
        ],
      );
      if (inserted.length === 0) {
        // another request took this key (perhaps a moment ago, concurrently: the insert waited for it)
        const [existing] = await m.query<{ id: string; request_hash: string }[]>(
          'SELECT id, request_hash FROM orders WHERE idempotency_key = $1',
          [idempotencyKey],
        );
        if (!existing) throw new Error(`idempotency key ${idempotencyKey} vanished`);
        return {
          kind: existing.request_hash === requestHash ? 'replayed' : 'key-reused',
          orderId: existing.id,
        };
      }
      for (const [i, line] of lines.entries()) {
        await m.query(
          `INSERT INTO order_lines (order_id, line_no, product_id, quantity, state) VALUES ($1, $2, $3, $4, 'PENDING')`,
          [orderId, i + 1, line.productId, line.quantity],
        );
      }
      const decision = startSaga({
        orderId,
        customerId: request.customerId,
        lines,
        deadline: deadline.toISOString(),
        holdUntil: holdUntil.toISOString(),
      });
      await this.write(m, decision, null, { at: null, count: 0 });
      this.log.log({ msg: 'order placed', correlationId: orderId, lines: lines.length });
      return { kind: 'created', orderId };
    });
    if (result.kind === 'created') sagaMetrics.started.inc();
    return result;
  }

  /** Applies one reply from stock or payment; a reply seen before (same message id) is skipped. */
  async handleReply(reply: OrderReply): Promise<void> {
    const finished: Finished[] = [];
    await this.db.transaction(async (m) => {
      const fresh = await m.query<unknown[]>(
        'INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING message_id',
        [reply.messageId],
      );
      if (fresh.length === 0) {
        this.log.log({ msg: 'duplicate reply skipped', type: reply.type, messageId: reply.messageId });
        return;
      }
      const locked = await this.lock(m, reply.payload.orderId);
      if (!locked) {
        this.log.warn({
          msg: 'reply for an unknown order ignored',
          type: reply.type,
          orderId: reply.payload.orderId,
        });
        return;
      }
      await this.step(m, locked, reply, reply, finished);
    });
    recordFinished(finished);
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
    const [order] = await this.db.query<OrderRow[]>('SELECT * FROM orders WHERE id = $1', [orderId]);
    if (!order) return undefined;
    const lines = await this.db.query<LineRow[]>(
      'SELECT * FROM order_lines WHERE order_id = $1 ORDER BY line_no',
      [orderId],
    );
    const timeline = await this.db.query<
      { participant: string; state: string; detail: string | null; at: Date }[]
    >('SELECT participant, state, detail, at FROM order_timeline WHERE order_id = $1 ORDER BY id', [orderId]);
    return {
      id: order.id,
      customerId: order.customer_id,
      status: order.status,
      reason: order.reason,
      reasonDetail: order.reason_detail,
      total: order.total === null ? null : Number(order.total),
      lines: lines.map((l) => ({
        productId: l.product_id,
        quantity: l.quantity,
        unitPrice: l.unit_price === null ? null : Number(l.unit_price),
        state: l.state,
      })),
      payment: { state: order.payment_state },
      deadlineAt: order.deadline_at.toISOString(),
      createdAt: order.created_at.toISOString(),
      updatedAt: order.updated_at.toISOString(),
      timeline: timeline.map((t) => ({ ...t, at: t.at.toISOString() })),
    };
  }

  // ------------------------------------------------------------------ internals

  private async due(sql: string, limit: number, event: SagaEvent): Promise<number> {
    const finished: Finished[] = [];
    const count = await this.db.transaction(async (m) => {
      const rows = await m.query<{ id: string }[]>(sql, [limit]);
      for (const { id } of rows) {
        const locked = await this.lock(m, id);
        if (!locked) continue;
        // a deadline or retry is a new span in the order's own trace
        const span = childSpan(locked.traceId ? { traceId: locked.traceId } : undefined);
        await runInTrace(span, () =>
          withLogContext({ correlationId: id, traceId: span.traceId, spanId: span.spanId }, () =>
            this.step(m, locked, event, null, finished),
          ),
        );
      }
      return rows.length;
    });
    recordFinished(finished);
    return count;
  }

  private async step(
    m: EntityManager,
    { state, retryCount, createdAt }: Locked,
    event: SagaEvent,
    cause: SagaMessage | null,
    finished: Finished[],
  ) {
    const decision = decide(state, event);
    const { status, reason } = decision.state;
    if (status !== state.status && (status === 'CONFIRMED' || status === 'CANCELLED')) {
      finished.push({ status, reason, seconds: (Date.now() - createdAt.getTime()) / 1000 });
    }
    await this.write(
      m,
      decision,
      cause,
      this.nextRetry(decision.state, decision.state.status !== state.status, event, retryCount),
    );
    if (decision.state.status !== state.status) {
      this.log.log({
        msg: `order ${decision.state.status.toLowerCase()}`,
        from: state.status,
        reason: decision.state.reason,
        detail: decision.state.reasonDetail,
        after: event.type,
      });
    }
  }

  private async lock(m: EntityManager, orderId: string): Promise<Locked | undefined> {
    const [o] = await m.query<OrderRow[]>('SELECT * FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
    if (!o) return undefined;
    const lines = await m.query<LineRow[]>('SELECT * FROM order_lines WHERE order_id = $1 ORDER BY line_no', [
      orderId,
    ]);
    const state: SagaState = {
      orderId: o.id,
      customerId: o.customer_id,
      status: o.status,
      reason: o.reason,
      reasonDetail: o.reason_detail,
      lines: lines.map((l) => ({
        productId: l.product_id,
        quantity: l.quantity,
        unitPrice: l.unit_price === null ? null : Number(l.unit_price),
        state: l.state,
      })),
      payment: o.payment_state,
      total: o.total === null ? null : Number(o.total),
      deadline: o.deadline_at.toISOString(),
      holdUntil: o.hold_until.toISOString(),
    };
    return { state, retryCount: o.retry_count, createdAt: o.created_at, traceId: o.trace_id };
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

  /** Writes a decision: order row, lines, timeline, and the commands into the outbox. */
  private async write(
    m: EntityManager,
    { state, commands, timeline }: SagaDecision,
    cause: SagaMessage | null,
    retry: Retry,
  ) {
    await m.query(
      `UPDATE orders SET status = $2, reason = $3, reason_detail = $4, total = $5, payment_state = $6,
              next_retry_at = CASE WHEN $9 THEN next_retry_at ELSE $7::timestamptz END,
              retry_count = CASE WHEN $9 THEN retry_count ELSE $8::integer END,
              updated_at = now()
        WHERE id = $1`,
      [
        state.orderId,
        state.status,
        state.reason,
        state.reasonDetail,
        state.total,
        state.payment,
        retry === 'keep' ? null : retry.at,
        retry === 'keep' ? 0 : retry.count,
        retry === 'keep',
      ],
    );
    for (const l of state.lines) {
      await m.query(
        'UPDATE order_lines SET state = $3, unit_price = $4 WHERE order_id = $1 AND product_id = $2',
        [state.orderId, l.productId, l.state, l.unitPrice],
      );
    }
    for (const t of timeline) {
      await m.query(
        'INSERT INTO order_timeline (order_id, participant, state, detail) VALUES ($1, $2, $3, $4)',
        [state.orderId, t.participant, t.state, t.detail],
      );
    }
    const messages = commands.map((c) =>
      createMessage(c.type, c.payload as never, {
        correlationId: state.orderId,
        causationId: cause?.messageId ?? null,
      }),
    );
    await enqueueMessages(m, messages);
  }
}

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
