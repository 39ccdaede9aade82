export interface OrderSettings {
  tryTimeoutMs: number;
  confirmWindowMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  schedulerIntervalMs: number;
  /** POST /orders answers 503 while this many orders are in progress (OrderAdmission) */
  maxInProgress: number;
  /** ... or while the event loop is behind by more than this on average (OrderAdmission) */
  maxLoopDelayMs: number;
}
export const ORDER_SETTINGS = Symbol('ORDER_SETTINGS');
