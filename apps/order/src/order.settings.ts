import type { RetryPolicy, SagaTimeouts } from './saga/order-saga';

/** The order service's settings, from its configuration (order.config.ts). */
export interface OrderSettings extends SagaTimeouts, RetryPolicy {
  schedulerIntervalMs: number;
  /** POST /orders answers 503 while this many orders are in progress (OrderAdmission) */
  maxInProgress: number;
  /** ... or while the event loop is behind by more than this on average (OrderAdmission) */
  maxLoopDelayMs: number;
  /** how long a crashed instance's reply partitions may wait for a survivor (crashTakeoverMs) */
  crashTakeoverMs: number;
}
export const ORDER_SETTINGS = Symbol('ORDER_SETTINGS');
