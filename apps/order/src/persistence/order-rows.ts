import type { BranchState, CancelReason, OrderStatus, PaymentState, SagaState } from '../saga/order-saga';

/** A row of `orders`, as `SELECT o.*` returns it. */
export interface OrderRow {
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

/** A row of `order_lines`, as json_agg returns it. */
export interface LineRow {
  line_no: number;
  product_id: string;
  quantity: number;
  unit_price: string | null;
  state: BranchState;
}

/** A row of `order_timeline`, as json_build_object returns it. */
export interface TimelineRow {
  participant: string;
  state: string;
  detail: string | null;
  at: string;
}

/** An order with its lines and timeline, as the API reads it (and as placing it returns it). */
export type ViewRow = OrderRow & { lines: LineRow[] | null; timeline: TimelineRow[] };

/** An order as one saga step reads it: the saga's state and what guards and schedules the write. */
export interface StoredOrder {
  state: SagaState;
  /** a write applies only if the order is still at this version */
  version: number;
  /** confirms/cancels re-sent so far in the current phase */
  retryCount: number;
  createdAt: Date;
  traceId: string | null;
  /** the message ids of the replies applied to the order (orders.applied) */
  applied: readonly string[];
}

export function toStoredOrder(o: OrderRow & { lines: LineRow[] }): StoredOrder {
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
