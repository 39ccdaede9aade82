/*
 * What a TCC command does to one hold, given what the hold (the fence record) says already: the
 * TCC fence rules of @tcc/tcc (see there for the anomalies they cover), in payment's words: a try
 * leaves a hold HELD, a confirm CAPTURED, a cancel RELEASED (also a cancel that came before any
 * try), the sweeper EXPIRED, a try the wallet cannot cover REJECTED, and a refund REFUNDED.
 *
 * One hold per order: a customer pays an order once, so the order id alone identifies it.
 */
import { fenceRules } from '@tcc/tcc';

export type HoldStatus = 'HELD' | 'CAPTURED' | 'RELEASED' | 'EXPIRED' | 'REJECTED' | 'REFUNDED';

export const holdRules = fenceRules<HoldStatus>({
  tried: 'HELD',
  confirmed: 'CAPTURED',
  cancelled: 'RELEASED',
  expired: 'EXPIRED',
  rejected: 'REJECTED',
  compensated: 'REFUNDED',
});
