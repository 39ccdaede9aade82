/*
 * One branch of a saga at a participant (one order's reservation of one product, one order's hold
 * on a wallet), in the engine's neutral words: `decide` reads the branch's fence record and its
 * resource and says what a command does; `evolveFence` and `evolveResource` apply that outcome.
 * Pure: no database, no Kafka. Every path of the engine (one message, a batch, the locked retry,
 * the sweeper) decides with these functions and nothing else.
 */
import { move, mustMove } from './buckets';
import type { Buckets } from './buckets';
import { branchRules } from './fence-rules';
import type { BranchState, RefuseReason } from './fence-rules';

export type Phase = 'try' | 'confirm' | 'cancel' | 'compensate';

/** A participant's command, in the engine's words. */
export type BranchCommand =
  | {
      phase: 'try';
      orderId: string;
      resourceId: string;
      amount: number;
      /** a try handled after this is rejected */
      deadline: Date;
      /** how long the order asks the resource to stay held */
      holdUntil: Date;
    }
  | { phase: 'confirm' | 'cancel' | 'compensate'; orderId: string; resourceId: string };

/** A branch's fence record: the participant's row for it (reservation, hold). */
export interface Fence<R> {
  state: BranchState;
  /** whose resource the branch holds (the product, the customer's wallet) */
  resourceId: string;
  amount: number;
  /** why it was rejected or cancelled without a try (the participant's word), or TTL */
  reason: string | null;
  expiresAt: Date | null;
  /** the reply each phase got, so a duplicate gets it again */
  replies: Partial<Record<Phase, R>>;
  /** values copied from the resource when the try took it (stock's unit price) */
  copied: Readonly<Record<string, unknown>>;
}

/** A participant's resource as the engine reads it: its buckets and the attributes replies need. */
export interface Resource {
  id: string;
  buckets: Buckets;
  attributes: Readonly<Record<string, unknown>>;
}

/** Why a try is rejected: the resource is short or unknown, or the fence rules say so. */
export type TryRejection = 'SHORT' | 'UNKNOWN' | 'DEADLINE_PASSED' | 'ALREADY_CANCELLED';

export type Outcome<R> =
  /** a duplicate: the reply this phase got the first time, no second effect */
  | { kind: 'replay'; reply: R }
  | { kind: 'tried'; amount: number; expiresAt: Date }
  | { kind: 'rejected'; reason: TryRejection }
  /** `reacquired`: the sweeper had released it, and it was taken again from what is free */
  | { kind: 'confirmed'; amount: number; reacquired: boolean }
  | { kind: 'cancelled'; effect: 'released' | 'nothing-held' | 'empty-rollback'; released: number }
  | { kind: 'compensated'; amount: number }
  | { kind: 'refused'; reason: RefuseReason }
  | { kind: 'expired'; amount: number }
  /** the fence belongs to another resource: a protocol error, no reply can be right */
  | { kind: 'foreign'; owner: string };

/** How long a try's hold lives: what the order asks for, at most the participant's maximum. */
export function holdExpiry(holdUntil: Date, now: Date, maxHoldMs: number): Date {
  return new Date(Math.min(holdUntil.getTime(), now.getTime() + maxHoldMs));
}

/** What `command` does to a branch whose fence and resource are as given (undefined: none). */
export function decide<R>(
  command: BranchCommand,
  fence: Fence<R> | undefined,
  resource: Resource | undefined,
  now: Date,
  maxHoldMs: number,
): Outcome<R> {
  if (fence && fence.resourceId !== command.resourceId) return { kind: 'foreign', owner: fence.resourceId };
  const state = fence?.state;
  const replied = fence !== undefined && fence.replies[command.phase] !== undefined;
  const replay = (): Outcome<R> => {
    const reply = fence?.replies[command.phase];
    if (reply === undefined)
      throw new Error(`no stored ${command.phase} reply to replay for ${command.orderId}`);
    return { kind: 'replay', reply };
  };
  switch (command.phase) {
    case 'try': {
      const d = branchRules.decideTry(state, replied, command.deadline, now);
      if (d.kind === 'replay') return replay();
      if (d.kind === 'reject') return { kind: 'rejected', reason: d.reason };
      if (!resource) return { kind: 'rejected', reason: 'UNKNOWN' };
      if (!move(resource.buckets, 'hold', command.amount)) return { kind: 'rejected', reason: 'SHORT' };
      return {
        kind: 'tried',
        amount: command.amount,
        expiresAt: holdExpiry(command.holdUntil, now, maxHoldMs),
      };
    }
    case 'confirm': {
      const d = branchRules.decideConfirm(state, replied);
      if (d.kind === 'replay') return replay();
      if (d.kind === 'refuse' || !fence)
        return { kind: 'refused', reason: d.kind === 'refuse' ? d.reason : 'NOT_RESERVED' };
      if (d.kind === 'apply') return { kind: 'confirmed', amount: fence.amount, reacquired: false };
      const free = resource && move(resource.buckets, 'reacquire', fence.amount);
      return free
        ? { kind: 'confirmed', amount: fence.amount, reacquired: true }
        : { kind: 'refused', reason: 'EXPIRED' };
    }
    case 'cancel': {
      const d = branchRules.decideCancel(state, replied);
      switch (d.kind) {
        case 'replay':
          return replay();
        case 'refuse':
          return { kind: 'refused', reason: d.reason };
        case 'empty-rollback':
          return { kind: 'cancelled', effect: 'empty-rollback', released: 0 };
        case 'nothing-to-release':
          return { kind: 'cancelled', effect: 'nothing-held', released: 0 };
        case 'apply':
          return { kind: 'cancelled', effect: 'released', released: fence?.amount ?? 0 };
      }
      break;
    }
    case 'compensate': {
      const d = branchRules.decideCompensate(state, replied);
      if (d.kind === 'replay') return replay();
      if (d.kind === 'refuse' || !fence)
        return { kind: 'refused', reason: d.kind === 'refuse' ? d.reason : 'NOT_RESERVED' };
      return { kind: 'compensated', amount: fence.amount };
    }
  }
}

/** What the sweeper does to a branch whose hold outlived its time: release it, if still held. */
export function decideExpiry<R>(fence: Fence<R>): Outcome<R> | undefined {
  return branchRules.decideExpire(fence.state) ? { kind: 'expired', amount: fence.amount } : undefined;
}

/** The participant's words for the reasons a fence records. */
export interface ReasonWords {
  /** the resource is short (OUT_OF_STOCK, INSUFFICIENT_FUNDS) */
  SHORT: string;
  /** the resource does not exist (UNKNOWN_PRODUCT, UNKNOWN_WALLET) */
  UNKNOWN: string;
}

/** The participant's word for a try's rejection. */
export function rejectionWord<W extends ReasonWords>(
  reason: TryRejection,
  words: W,
): W['SHORT'] | W['UNKNOWN'] | 'DEADLINE_PASSED' | 'ALREADY_CANCELLED' {
  return reason === 'SHORT' || reason === 'UNKNOWN' ? words[reason] : reason;
}

/**
 * The fence after `outcome`, with `reply` recorded under the command's phase. Undefined when there
 * was none and the outcome leaves none (a refusal of a branch the participant never saw).
 */
export function evolveFence<R>(
  fence: Fence<R> | undefined,
  command: BranchCommand,
  outcome: Outcome<R>,
  reply: R,
  context: { words: ReasonWords; copied: Readonly<Record<string, unknown>> },
): Fence<R> | undefined {
  const recorded = (state: BranchState, base: Fence<R>): Fence<R> => ({
    ...base,
    state,
    replies: { ...base.replies, [command.phase]: reply },
  });
  const fresh = (state: BranchState, amount: number, reason: string | null): Fence<R> => ({
    state,
    resourceId: command.resourceId,
    amount,
    reason,
    expiresAt: null,
    replies: { [command.phase]: reply },
    copied: {},
  });
  switch (outcome.kind) {
    case 'replay':
    case 'foreign':
      return fence;
    case 'tried':
      return {
        ...fresh('tried', outcome.amount, null),
        expiresAt: outcome.expiresAt,
        copied: context.copied,
      };
    case 'rejected': {
      if (fence) return recorded(fence.state, fence);
      const amount = command.phase === 'try' ? command.amount : 0;
      return fresh('rejected', amount, rejectionWord(outcome.reason, context.words));
    }
    case 'confirmed':
      return fence && recorded('confirmed', fence);
    case 'cancelled':
      if (outcome.effect === 'empty-rollback') return fresh('cancelled', 0, 'EMPTY_ROLLBACK');
      return fence && recorded(outcome.effect === 'released' ? 'cancelled' : fence.state, fence);
    case 'compensated':
      return fence && recorded('compensated', fence);
    case 'refused':
      return fence && recorded(fence.state, fence);
    case 'expired':
      return fence && expireFence(fence);
  }
}

/** A fence the sweeper released: expired, for its time to live (TTL). */
export function expireFence<R>(fence: Fence<R>): Fence<R> {
  return { ...fence, state: 'expired', reason: 'TTL' };
}

/** The resource's buckets after `outcome`: every change is one move of `buckets.ts`. */
export function evolveResource<R>(resource: Resource, outcome: Outcome<R>): Buckets {
  const { buckets, id } = resource;
  switch (outcome.kind) {
    case 'tried':
      return mustMove(buckets, 'hold', outcome.amount, id);
    case 'confirmed':
      return mustMove(buckets, outcome.reacquired ? 'reacquire' : 'settle', outcome.amount, id);
    case 'cancelled':
      return outcome.effect === 'released' ? mustMove(buckets, 'release', outcome.released, id) : buckets;
    case 'compensated':
      return mustMove(buckets, 'giveBack', outcome.amount, id);
    case 'expired':
      return mustMove(buckets, 'release', outcome.amount, id);
    default:
      return buckets;
  }
}

/** Whether an outcome moves anything in the resource. */
export function movesResource<R>(outcome: Outcome<R>): boolean {
  switch (outcome.kind) {
    case 'tried':
    case 'confirmed':
    case 'compensated':
    case 'expired':
      return true;
    case 'cancelled':
      return outcome.effect === 'released';
    default:
      return false;
  }
}
