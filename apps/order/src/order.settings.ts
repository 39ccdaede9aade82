export interface OrderSettings {
  tryTimeoutMs: number;
  confirmWindowMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  schedulerIntervalMs: number;
}
export const ORDER_SETTINGS = Symbol('ORDER_SETTINGS');
