export interface StockSettings {
  /** a reservation never lives longer than this, whatever the order asks for */
  maxHoldMs: number;
  sweepIntervalMs: number;
}
export const STOCK_SETTINGS = Symbol('STOCK_SETTINGS');
