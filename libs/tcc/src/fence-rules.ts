/*
 * What a TCC command does to one branch of a saga (a participant's reservation, hold, …), given
 * what the branch's fence record says already. Pure: no database, no Kafka. The participant
 * applies the decision in one transaction, together with the fence update and the reply.
 *
 * The table is written once over the six neutral states of a branch; each participant names
 * those states in its own words (stock RESERVED … RETURNED, payment HELD … REFUNDED) and gets the
 * same rules back over its own status type from `fenceRules(names)`.
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

/** What the rules read of a branch's fence record: its status, in the participant's words. */
export interface Fence<S extends string> {
  status: S;
}

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

/**
 * The decision table over a participant's own status names. `fence` is the branch's fence record,
 * undefined when the participant has none yet; `alreadyReplied` says whether the fence stores a
 * reply to this phase already (a duplicate command).
 */
export interface FenceRules<S extends string> {
  decideTry(fence: Fence<S> | undefined, alreadyReplied: boolean, deadline: Date, now: Date): TryDecision;
  decideConfirm(fence: Fence<S> | undefined, alreadyReplied: boolean): ConfirmDecision;
  decideCancel(fence: Fence<S> | undefined, alreadyReplied: boolean): CancelDecision;
  decideCompensate(fence: Fence<S> | undefined, alreadyReplied: boolean): CompensateDecision;
}

export function fenceRules<S extends string>(names: BranchStatusNames<S>): FenceRules<S> {
  const states = new Map<string, BranchState>();
  for (const [state, status] of Object.entries(names) as [BranchState, S][]) {
    const taken = states.get(status);
    if (taken) throw new Error(`status ${status} names both the ${taken} and the ${state} state`);
    states.set(status, state);
  }
  const stateOf = (fence: Fence<S> | undefined): BranchState | undefined => {
    if (!fence) return undefined;
    const state = states.get(fence.status);
    if (!state) throw new Error(`unknown branch status ${fence.status}`);
    return state;
  };
  return {
    decideTry: (fence, alreadyReplied, deadline, now) =>
      decideTry(fence !== undefined, alreadyReplied, deadline, now),
    decideConfirm: (fence, alreadyReplied) =>
      alreadyReplied ? { kind: 'replay' } : decideConfirm(stateOf(fence)),
    decideCancel: (fence, alreadyReplied) =>
      alreadyReplied ? { kind: 'replay' } : decideCancel(stateOf(fence)),
    decideCompensate: (fence, alreadyReplied) =>
      alreadyReplied ? { kind: 'replay' } : decideCompensate(stateOf(fence)),
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
