import type { BranchState, CancelReason, OrderStatus, PaymentState } from '../saga/order-saga';
import type { ViewRow } from '../persistence/order-rows';

/** An order as the API shows it (GET /orders/:id, and POST /orders' answer). */
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

export function toView(order: ViewRow): OrderView {
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
