export interface PaymentSettings {
  /** a hold never lives longer than this, whatever the order asks for */
  maxHoldMs: number;
  sweepIntervalMs: number;
}
export const PAYMENT_SETTINGS = Symbol('PAYMENT_SETTINGS');
