/*
 * What a TCC command does to one branch of a saga (a participant's reservation, hold, …), given
 * what the branch's fence record says already. Pure: no database, no Kafka. The participant
 * applies the decision in one transaction, together with the fence update and the reply.
 *
 * The table is written once over the six neutral states of a branch; each participant names
 * those states in its own words (stock RESERVED … RETURNED, payment HELD … REFUNDED), read back
 * as the neutral states by `statesOf(names)`.
 *
 * The anomalies it covers:
 * - a duplicate command of a phase already handled replays the stored reply, with no second
 *   effect (even when the state has moved on since, and even when that reply was a refusal);
 * - a cancel before any try (empty rollback) succeeds and is remembered as cancelled;
 * - a try after that cancel (hanging try) is rejected ALREADY_CANCELLED, so nothing stays held;
 * - a try whose deadline has passed is rejected DEADLINE_PASSED;
 * - confirm after cancel, and cancel after confirm, are refused with a reply saying why;
 * - a confirm after the sweeper let the branch expire reacquires, if the resource is still there;
 * - a compensation (return, refund) undoes only a confirmed branch.
 */

/** The six states of a participant's branch (its fence record). */
export type BranchState = 'tried' | 'confirmed' | 'cancelled' | 'expired' | 'rejected' | 'compensated';

/** The six states of a participant's branch, in the participant's own words: one distinct name each. */
export type BranchStatusNames<S extends string> = Readonly<Record<BranchState, S>>;

/** Why a confirm, cancel or compensation is refused: the reasons the reply contracts carry. */
export type RefuseReason =
  'NOT_RESERVED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'CONFIRMED' | 'NOT_CONFIRMED';

/** A duplicate: send the reply this phase got the first time, with no second effect. */
export interface Replay {
  kind: 'replay';
}

/** Refuse the phase with a reply saying why; the branch stays as it is. */
export interface Refuse {
  kind: 'refuse';
  reason: RefuseReason;
}

export type TryDecision =
  | Replay
  /** take the resource if it is there; the database guard decides between tried and rejected */
  | { kind: 'apply' }
  | { kind: 'reject'; reason: 'DEADLINE_PASSED' | 'ALREADY_CANCELLED' };

export type ConfirmDecision =
  | Replay
  /** turn what the try set aside into the final effect */
  | { kind: 'apply' }
  /** the sweeper released it: take the resource again, if it is still there */
  | { kind: 'reacquire' }
  | Refuse;

export type CancelDecision =
  | Replay
  /** give back what the try set aside */
  | { kind: 'apply' }
  /** nothing is held (cancelled, expired, rejected, compensated): succeed without an effect */
  | { kind: 'nothing-to-release' }
  /** no try seen yet: remember the cancel so a late try is refused */
  | { kind: 'empty-rollback' }
  | Refuse;

/** undo the confirmed effect (stock's return, payment's refund) */
export type CompensateDecision = Replay | { kind: 'apply' } | Refuse;

/** The rules over the neutral states: what the engine decides with. */
export const branchRules = {
  decideTry: (
    state: BranchState | undefined,
    alreadyReplied: boolean,
    deadline: Date,
    now: Date,
  ): TryDecision => decideTry(state !== undefined, alreadyReplied, deadline, now),
  decideConfirm: (state: BranchState | undefined, alreadyReplied: boolean): ConfirmDecision =>
    alreadyReplied ? { kind: 'replay' } : decideConfirm(state),
  decideCancel: (state: BranchState | undefined, alreadyReplied: boolean): CancelDecision =>
    alreadyReplied ? { kind: 'replay' } : decideCancel(state),
  decideCompensate: (state: BranchState | undefined, alreadyReplied: boolean): CompensateDecision =>
    alreadyReplied ? { kind: 'replay' } : decideCompensate(state),
  /** the sweeper releases only what a try set aside and nobody settled */
  decideExpire: (state: BranchState | undefined): boolean => state === 'tried',
};

/** Reads a participant's status names as the neutral states; throws on an unknown or repeated name. */
export function statesOf<S extends string>(names: BranchStatusNames<S>): (status: string) => BranchState {
  const states = new Map<string, BranchState>();
  for (const [state, status] of Object.entries(names) as [BranchState, S][]) {
    const taken = states.get(status);
    if (taken) throw new Error(`status ${status} names both the ${taken} and the ${state} state`);
    states.set(status, state);
  }
  return (status) => {
    const state = states.get(status);
    if (!state) throw new Error(`unknown branch status ${status}`);
    return state;
  };
}

function decideTry(fenced: boolean, alreadyReplied: boolean, deadline: Date, now: Date): TryDecision {
  if (alreadyReplied) return { kind: 'replay' };
  // whatever the state, a fence without a try reply was written by a cancel that came first
  if (fenced) return { kind: 'reject', reason: 'ALREADY_CANCELLED' };
  if (now.getTime() > deadline.getTime()) return { kind: 'reject', reason: 'DEADLINE_PASSED' };
  return { kind: 'apply' };
}

function decideConfirm(state: BranchState | undefined): ConfirmDecision {
  switch (state) {
    case undefined:
      return { kind: 'refuse', reason: 'NOT_RESERVED' };
    case 'tried':
      return { kind: 'apply' };
    case 'expired':
      return { kind: 'reacquire' };
    case 'confirmed':
      return { kind: 'replay' };
    case 'cancelled':
    case 'compensated':
      return { kind: 'refuse', reason: 'CANCELLED' };
    case 'rejected':
      return { kind: 'refuse', reason: 'REJECTED' };
  }
}

function decideCancel(state: BranchState | undefined): CancelDecision {
  switch (state) {
    case undefined:
      return { kind: 'empty-rollback' };
    case 'tried':
      return { kind: 'apply' };
    case 'confirmed':
      return { kind: 'refuse', reason: 'CONFIRMED' };
    case 'cancelled':
    case 'expired':
    case 'rejected':
    case 'compensated':
      return { kind: 'nothing-to-release' };
  }
}

function decideCompensate(state: BranchState | undefined): CompensateDecision {
  switch (state) {
    case 'confirmed':
      return { kind: 'apply' };
    case undefined:
      return { kind: 'refuse', reason: 'NOT_RESERVED' };
    case 'tried':
      return { kind: 'refuse', reason: 'NOT_CONFIRMED' };
    case 'cancelled':
    case 'compensated':
      return { kind: 'refuse', reason: 'CANCELLED' };
    case 'expired':
      return { kind: 'refuse', reason: 'EXPIRED' };
    case 'rejected':
      return { kind: 'refuse', reason: 'REJECTED' };
  }
}
