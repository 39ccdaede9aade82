/*
 * What a TCC command does to one hold, given what the hold (the fence record) says already: the
 * shared TCC fence rules of @tcc/tcc, in payment's words. A hold is HELD by a try, CAPTURED by a
 * confirm, RELEASED by a cancel (or by a cancel before any try, the empty rollback), EXPIRED by
 * the sweeper, REJECTED by a failed try, and REFUNDED by a refund.
 *
 * One hold per order: a customer pays an order once, so the order id alone identifies it.
 */
import { fenceRules } from '@tcc/tcc';

export type HoldStatus = 'HELD' | 'CAPTURED' | 'RELEASED' | 'EXPIRED' | 'REJECTED' | 'REFUNDED';

/** The phases whose reply a hold stores; `refund` is payment's compensation. */
export type Phase = 'try' | 'confirm' | 'cancel' | 'refund';

export const holdRules = fenceRules<HoldStatus>({
  tried: 'HELD',
  confirmed: 'CAPTURED',
  cancelled: 'RELEASED',
  expired: 'EXPIRED',
  rejected: 'REJECTED',
  compensated: 'REFUNDED',
});
