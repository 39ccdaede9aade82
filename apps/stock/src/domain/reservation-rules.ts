/*
 * What a TCC command does to one reservation, given what the reservation (the fence record) says
 * already: the TCC fence rules of @tcc/tcc (see there for the anomalies they cover), in stock's
 * words: a try leaves a reservation RESERVED, a confirm CONFIRMED (sold), a cancel CANCELLED (also
 * a cancel that came before any try), the sweeper EXPIRED, a try that cannot be served REJECTED,
 * and a return of a sale RETURNED.
 */
import { fenceRules } from '@tcc/tcc';

export type ReservationStatus = 'RESERVED' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'RETURNED';

export const reservationRules = fenceRules<ReservationStatus>({
  tried: 'RESERVED',
  confirmed: 'CONFIRMED',
  cancelled: 'CANCELLED',
  expired: 'EXPIRED',
  rejected: 'REJECTED',
  compensated: 'RETURNED',
});
