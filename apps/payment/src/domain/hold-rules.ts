/*
 * What a TCC command does to one hold, given what the hold (the fence record) says already.
 * Pure: no database, no Kafka. The service applies the outcome in one transaction.
 *
 * One hold per order: a customer pays an order once, so the order id alone identifies it.
 *
 * The anomalies it covers:
 * - a duplicate command of a phase already handled replays the stored reply, with no second effect;
 * - a cancel before any try (empty rollback) succeeds and is remembered as RELEASED;
 * - a try after that cancel (hanging try) is rejected, so nothing stays held;
 * - confirm after cancel, and cancel after confirm, are refused with a reply saying why;
 * - a confirm after the sweeper let the hold expire captures anyway if the balance still covers it;
 * - a refund undoes only a captured payment.
 */

export type HoldStatus = 'HELD' | 'CAPTURED' | 'RELEASED' | 'EXPIRED' | 'REJECTED' | 'REFUNDED';
export type Phase = 'try' | 'confirm' | 'cancel' | 'refund';

export interface HoldFence {
  status: HoldStatus;
  amount: number;
  /** phases whose reply was already sent */
  repliedPhases: readonly Phase[];
}

export type TryOutcome =
  | { kind: 'replay' }
  /** hold if the balance covers it; the database guard decides between held and insufficient funds */
  | { kind: 'hold' }
  | { kind: 'reject'; reason: 'DEADLINE_PASSED' | 'ALREADY_CANCELLED' };

export type RefuseReason =
  'NOT_RESERVED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'CONFIRMED' | 'NOT_CONFIRMED';

export type ConfirmOutcome =
  | { kind: 'replay' }
  | { kind: 'capture' }
  /** the sweeper released it: capture straight from the balance if it still covers the amount */
  | { kind: 'reacquire-and-capture' }
  | { kind: 'refuse'; reason: RefuseReason };

export type CancelOutcome =
  | { kind: 'replay' }
  | { kind: 'release' }
  /** nothing is held (rejected, expired, refunded): succeed without an effect */
  | { kind: 'nothing-to-release' }
  /** no try seen yet: remember the cancel so a late try is refused */
  | { kind: 'empty-rollback' }
  | { kind: 'refuse'; reason: RefuseReason };

export type RefundOutcome =
  { kind: 'replay' } | { kind: 'refund' } | { kind: 'refuse'; reason: RefuseReason };

function replied(fence: HoldFence | undefined, phase: Phase): boolean {
  return fence?.repliedPhases.includes(phase) ?? false;
}

export function decideTry(fence: HoldFence | undefined, deadline: Date, now: Date): TryOutcome {
  if (replied(fence, 'try')) return { kind: 'replay' };
  if (fence) return { kind: 'reject', reason: 'ALREADY_CANCELLED' };
  if (now.getTime() > deadline.getTime()) return { kind: 'reject', reason: 'DEADLINE_PASSED' };
  return { kind: 'hold' };
}

export function decideConfirm(fence: HoldFence | undefined): ConfirmOutcome {
  if (replied(fence, 'confirm')) return { kind: 'replay' };
  switch (fence?.status) {
    case undefined:
      return { kind: 'refuse', reason: 'NOT_RESERVED' };
    case 'HELD':
      return { kind: 'capture' };
    case 'EXPIRED':
      return { kind: 'reacquire-and-capture' };
    case 'CAPTURED':
      return { kind: 'replay' };
    case 'RELEASED':
      return { kind: 'refuse', reason: 'CANCELLED' };
    case 'REJECTED':
      return { kind: 'refuse', reason: 'REJECTED' };
    case 'REFUNDED':
      return { kind: 'refuse', reason: 'CANCELLED' };
  }
}

export function decideCancel(fence: HoldFence | undefined): CancelOutcome {
  if (replied(fence, 'cancel')) return { kind: 'replay' };
  switch (fence?.status) {
    case undefined:
      return { kind: 'empty-rollback' };
    case 'HELD':
      return { kind: 'release' };
    case 'CAPTURED':
      return { kind: 'refuse', reason: 'CONFIRMED' };
    case 'RELEASED':
    case 'EXPIRED':
    case 'REJECTED':
    case 'REFUNDED':
      return { kind: 'nothing-to-release' };
  }
}

export function decideRefund(fence: HoldFence | undefined): RefundOutcome {
  if (replied(fence, 'refund')) return { kind: 'replay' };
  switch (fence?.status) {
    case 'CAPTURED':
      return { kind: 'refund' };
    case undefined:
      return { kind: 'refuse', reason: 'NOT_RESERVED' };
    case 'HELD':
      return { kind: 'refuse', reason: 'NOT_CONFIRMED' };
    case 'RELEASED':
    case 'REFUNDED':
      return { kind: 'refuse', reason: 'CANCELLED' };
    case 'EXPIRED':
      return { kind: 'refuse', reason: 'EXPIRED' };
    case 'REJECTED':
      return { kind: 'refuse', reason: 'REJECTED' };
  }
}
