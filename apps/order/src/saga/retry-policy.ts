/*
 * When an order's confirms or cancels are sent again: soon after the phase starts, then backing
 * off exponentially up to a maximum, until every participant has answered (the order leaves the
 * phase). Re-sending is cheap for the participants (their fences answer a repeat once), but under
 * load replies are late rather than lost, so the first re-send waits long.
 */
import { isResending } from './saga-state';
import type { OrderStatus, SagaEvent } from './saga-state';

export interface RetryPolicy {
  /** the first re-send, this long after the phase started */
  retryInitialMs: number;
  /** the longest wait between two re-sends */
  retryMaxMs: number;
}

/**
 * The order's next re-send after a step: none (`at` null: no phase that re-sends), a new one
 * (`at`, with how many re-sends came before it), or the one it had ('keep': a reply within the
 * phase does not move it).
 */
export type Retry = { at: Date | null; count: number } | 'keep';

export interface RetryStep {
  /** the order's status before and after the step */
  from: OrderStatus;
  to: OrderStatus;
  event: SagaEvent['type'];
  /** re-sends so far in this phase */
  count: number;
  /** the step's time, ms since the epoch */
  now: number;
}

export function nextRetry({ from, to, event, count, now }: RetryStep, policy: RetryPolicy): Retry {
  if (!isResending(to)) return { at: null, count: 0 };
  const { retryInitialMs, retryMaxMs } = policy;
  if (to !== from) return { at: new Date(now + retryInitialMs), count: 0 };
  if (event === 'RetryDue') {
    return { at: new Date(now + Math.min(retryMaxMs, retryInitialMs * 2 ** (count + 1))), count: count + 1 };
  }
  return 'keep';
}
