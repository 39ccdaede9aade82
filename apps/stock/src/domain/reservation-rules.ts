/*
 * What a TCC command does to one reservation, given what the reservation (the fence record) says
 * already. Pure: no database, no Kafka. The service applies the outcome in one transaction.
 *
 * The anomalies it covers:
 * - a duplicate command of a phase already handled replays the stored reply, with no second effect;
 * - a cancel before any try (empty rollback) succeeds and is remembered as CANCELLED;
 * - a try after that cancel (hanging try) is rejected, so nothing stays reserved;
 * - confirm after cancel, and cancel after confirm, are refused with a reply saying why.
 */

export type ReservationStatus = 'RESERVED' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'RETURNED';
export type Phase = 'try' | 'confirm' | 'cancel' | 'return';

export interface ReservationFence {
  status: ReservationStatus;
  quantity: number;
  /** phases whose reply was already sent */
  repliedPhases: readonly Phase[];
}

export type TryOutcome =
  | { kind: 'replay' }
  /** reserve if available; the database guard decides between reserved and out of stock */
  | { kind: 'reserve' }
  | { kind: 'reject'; reason: 'DEADLINE_PASSED' | 'ALREADY_CANCELLED' };

export type RefuseReason =
  'NOT_RESERVED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'CONFIRMED' | 'NOT_CONFIRMED';

export type ConfirmOutcome =
  | { kind: 'replay' }
  | { kind: 'sell' }
  /** the sweeper released it: sell again if the stock is still there */
  | { kind: 'reacquire-and-sell' }
  | { kind: 'refuse'; reason: RefuseReason };

export type CancelOutcome =
  | { kind: 'replay' }
  | { kind: 'release' }
  /** nothing is held (rejected, expired, returned): succeed without an effect */
  | { kind: 'nothing-to-release' }
  /** no try seen yet: remember the cancel so a late try is refused */
  | { kind: 'empty-rollback' }
  | { kind: 'refuse'; reason: RefuseReason };

export type ReturnOutcome =
  { kind: 'replay' } | { kind: 'return' } | { kind: 'refuse'; reason: RefuseReason };

function replied(fence: ReservationFence | undefined, phase: Phase): boolean {
  return fence?.repliedPhases.includes(phase) ?? false;
}

export function decideTry(fence: ReservationFence | undefined, deadline: Date, now: Date): TryOutcome {
  if (replied(fence, 'try')) return { kind: 'replay' };
  if (fence) return { kind: 'reject', reason: 'ALREADY_CANCELLED' };
  if (now.getTime() > deadline.getTime()) return { kind: 'reject', reason: 'DEADLINE_PASSED' };
  return { kind: 'reserve' };
}

export function decideConfirm(fence: ReservationFence | undefined): ConfirmOutcome {
  if (replied(fence, 'confirm')) return { kind: 'replay' };
  switch (fence?.status) {
    case undefined:
      return { kind: 'refuse', reason: 'NOT_RESERVED' };
    case 'RESERVED':
      return { kind: 'sell' };
    case 'EXPIRED':
      return { kind: 'reacquire-and-sell' };
    case 'CONFIRMED':
      return { kind: 'replay' };
    case 'CANCELLED':
      return { kind: 'refuse', reason: 'CANCELLED' };
    case 'REJECTED':
      return { kind: 'refuse', reason: 'REJECTED' };
    case 'RETURNED':
      return { kind: 'refuse', reason: 'CANCELLED' };
  }
}

export function decideCancel(fence: ReservationFence | undefined): CancelOutcome {
  if (replied(fence, 'cancel')) return { kind: 'replay' };
  switch (fence?.status) {
    case undefined:
      return { kind: 'empty-rollback' };
    case 'RESERVED':
      return { kind: 'release' };
    case 'CONFIRMED':
      return { kind: 'refuse', reason: 'CONFIRMED' };
    case 'CANCELLED':
    case 'EXPIRED':
    case 'REJECTED':
    case 'RETURNED':
      return { kind: 'nothing-to-release' };
  }
}

export function decideReturn(fence: ReservationFence | undefined): ReturnOutcome {
  if (replied(fence, 'return')) return { kind: 'replay' };
  switch (fence?.status) {
    case 'CONFIRMED':
      return { kind: 'return' };
    case undefined:
      return { kind: 'refuse', reason: 'NOT_RESERVED' };
    case 'RESERVED':
      return { kind: 'refuse', reason: 'NOT_CONFIRMED' };
    case 'CANCELLED':
    case 'RETURNED':
      return { kind: 'refuse', reason: 'CANCELLED' };
    case 'EXPIRED':
      return { kind: 'refuse', reason: 'EXPIRED' };
    case 'REJECTED':
      return { kind: 'refuse', reason: 'REJECTED' };
  }
}
