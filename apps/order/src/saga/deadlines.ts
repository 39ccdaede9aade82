/*
 * The two times a new order is given: its try deadline (past it, the order cancels everything with
 * reason TIMEOUT) and how long participants hold what they reserved for it (the deadline plus the
 * confirm window, for the confirm to arrive).
 */

export interface SagaTimeouts {
  /** how long the try phase may last */
  tryTimeoutMs: number;
  /** how long after the deadline participants keep what they hold */
  confirmWindowMs: number;
}

export interface SagaDeadlines {
  deadline: Date;
  holdUntil: Date;
}

/** The deadlines of an order placed at `placedAt` (ms since the epoch). */
export function sagaDeadlines(placedAt: number, timeouts: SagaTimeouts): SagaDeadlines {
  const deadline = new Date(placedAt + timeouts.tryTimeoutMs);
  return { deadline, holdUntil: new Date(deadline.getTime() + timeouts.confirmWindowMs) };
}
