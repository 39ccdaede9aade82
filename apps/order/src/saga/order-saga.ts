/*
 * The TCC saga of one order as a pure state machine. No database, Kafka or clock here; the order
 * service applies a step in one statement (state + outbox + timeline).
 *
 * The protocol:
 * 1. TRYING: reserve every line at stock (in parallel). Stock replies with the catalog price, so
 *    when every line is reserved the total is known and the payment hold is tried.
 * 2. When every line is reserved and the payment held: CONFIRMING, confirm every participant.
 *    CONFIRMED once all confirmed.
 * 3. Any rejection while trying, or the deadline: CANCELLING, cancel every participant that
 *    may hold something (a cancel before the try is remembered by the participant, so a late try
 *    is refused). CANCELLED once nothing is held anywhere.
 * 4. A participant that can no longer confirm (its reservation expired): CANCELLING with reason
 *    CONFIRM_FAILED; what was already confirmed is compensated (stock returned, payment refunded),
 *    so nothing is captured without the goods sold and nothing sold without payment.
 * Confirm and cancel commands are re-sent on RetryDue until every participant has answered
 * (retry-policy.ts says when).
 *
 * A step is two functions of (state, event), emmett-style: `evolve` (evolve.ts) gives the next
 * state, `decide` (decide.ts) the commands to send and the timeline entries to record.
 */
import { decideTransition } from './decide';
import { transition } from './evolve';
import { mergeLines } from './order-lines';
import type { OrderedLine } from './order-lines';
import type { SagaEvent, SagaState, SagaStep } from './saga-state';

export * from './saga-state';
export { decide } from './decide';
export { evolve } from './evolve';
export { mergeLines } from './order-lines';
export type { OrderedLine } from './order-lines';
export { nextRetry } from './retry-policy';
export type { Retry, RetryPolicy } from './retry-policy';
export { sagaDeadlines } from './deadlines';
export type { SagaDeadlines, SagaTimeouts } from './deadlines';

export interface NewSaga {
  orderId: string;
  customerId: string;
  /** as ordered: lines naming one product are merged (mergeLines) */
  lines: readonly OrderedLine[];
  deadline: string;
  holdUntil: string;
}

/** The first step of an order: every line (one per product) tried at stock. */
export function startSaga(input: NewSaga): SagaStep {
  const state: SagaState = {
    orderId: input.orderId,
    customerId: input.customerId,
    status: 'TRYING',
    reason: null,
    reasonDetail: null,
    lines: mergeLines(input.lines).map((l) => ({ ...l, unitPrice: null, state: 'PENDING' })),
    payment: 'NOT_TRIED',
    total: null,
    deadline: input.deadline,
    holdUntil: input.holdUntil,
  };
  return {
    state,
    commands: state.lines.map((l) => ({
      type: 'StockTry',
      payload: {
        orderId: state.orderId,
        productId: l.productId,
        quantity: l.quantity,
        deadline: state.deadline,
        holdUntil: state.holdUntil,
      },
    })),
    timeline: [
      {
        participant: 'order',
        state: 'trying',
        detail: `${state.lines.length} line(s), deadline ${state.deadline}`,
      },
    ],
  };
}

/** evolve and decide of one event together, the transition computed once. */
export function step(state: SagaState, event: SagaEvent): SagaStep {
  const t = transition(state, event);
  return { state: t.after, ...decideTransition(t, event) };
}
