import { createMessage } from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import { isFinal, nextRetry, step } from '../saga/order-saga';
import type { RetryPolicy, SagaEvent, SagaStep } from '../saga/order-saga';
import type { StoredOrder } from '../persistence/order-rows';
import type { OrderChange } from '../persistence/order.sql';
import type { Finished } from './saga-metrics';

/** One event applied to a stored order in memory: the saga's step and the order after it. */
export interface Stepped extends OrderChange {
  event: SagaEvent;
  before: StoredOrder;
  next: StoredOrder;
  /** the saga's step: its state after, its commands and timeline entries */
  decision: SagaStep;
  /** the order entered another status */
  entered: boolean;
  /** the order, if it reached a final state */
  finished: Finished[];
}

/**
 * What `event` does to the order as `before` has it: the saga's step, the next re-send, and the
 * order after it (its version one up, the reply's id among the applied ones).
 */
export function stepOrder(
  before: StoredOrder,
  event: SagaEvent,
  cause: SagaMessage | null,
  policy: RetryPolicy,
  now = Date.now(),
): Stepped {
  const { state, version, retryCount, createdAt } = before;
  const decision = step(state, event);
  const { status, reason } = decision.state;
  const entered = status !== state.status;
  const retry = nextRetry(
    { from: state.status, to: status, event: event.type, count: retryCount, now },
    policy,
  );
  const next: StoredOrder = {
    ...before,
    state: decision.state,
    version: version + 1,
    retryCount: retry === 'keep' ? retryCount : retry.count,
    // the reply is applied with this step; a deadline or retry has no message id
    applied: cause ? [...before.applied, cause.messageId] : before.applied,
  };
  return {
    event,
    before,
    next,
    decision,
    entered,
    finished:
      entered && isFinal(status) ? [{ status, reason, seconds: (now - createdAt.getTime()) / 1000 }] : [],
    retry,
    timeline: decision.timeline,
    messages: commandMessages(decision, cause),
    appliedId: cause?.messageId ?? null,
  };
}

/** A step's commands as messages (their ids fixed now), caused by `cause` if a message caused it. */
export function commandMessages(
  { state, commands }: Pick<SagaStep, 'state' | 'commands'>,
  cause: SagaMessage | null,
): SagaMessage[] {
  return commands.map((c) =>
    createMessage(c.type, c.payload as never, {
      correlationId: state.orderId,
      causationId: cause?.messageId ?? null,
    }),
  );
}
