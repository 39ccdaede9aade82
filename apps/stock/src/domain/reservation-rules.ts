/*
 * What a TCC command does to one reservation, given what the reservation (the fence record) says
 * already: the shared TCC fence rules of @tcc/tcc, in stock's words. A reservation is RESERVED by
 * a try, CONFIRMED (sold) by a confirm, CANCELLED by a cancel (or by a cancel before any try, the
 * empty rollback), EXPIRED by the sweeper, REJECTED by a failed try, and RETURNED by a return.
 */
import { fenceRules } from '@tcc/tcc';

export type ReservationStatus = 'RESERVED' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'RETURNED';

/** The phases whose reply a reservation stores; `return` is stock's compensation. */
export type Phase = 'try' | 'confirm' | 'cancel' | 'return';

export const reservationRules = fenceRules<ReservationStatus>({
  tried: 'RESERVED',
  confirmed: 'CONFIRMED',
  cancelled: 'CANCELLED',
  expired: 'EXPIRED',
  rejected: 'REJECTED',
  compensated: 'RETURNED',
});
