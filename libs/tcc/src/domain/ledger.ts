/*
 * A run of commands decided over the state one read returned, one command after another, each
 * seeing the fences and resources as the commands before it left them: the fold of `decide` and
 * `evolve*` (branch.ts). What it answers is what to write (every changed fence and resource, with
 * the state it was decided from, which the write checks is still there) and what to reply.
 * Pure: a single message is a run of one; the sweeper's run expires branches instead.
 */
import { sameBuckets } from './buckets';
import type { Buckets } from './buckets';
import { decide, decideExpiry, evolveFence, evolveResource, expireFence, movesResource } from './branch';
import type { BranchCommand, Fence, Outcome, ReasonWords, Resource } from './branch';

/** What the engine needs of a participant to decide its commands (its SQL side is in ../engine). */
export interface ParticipantRules<C, R> {
  words: ReasonWords;
  /** a reservation never lives longer than this, whatever the order asks for */
  maxHoldMs: number;
  /**
   * true when an order has one branch per resource (stock: per product); false when one per order
   * (payment: one hold, whose command must name the hold's customer)
   */
  branchPerResource: boolean;
  toBranch(command: C): BranchCommand;
  reply(command: C, outcome: Outcome<R>, resource: Resource | undefined): R;
  /** the line logged for an outcome */
  describe(branch: BranchCommand, outcome: Outcome<R>, resource: Resource | undefined): string;
  /** what a try copies from the resource into its fence (stock: the unit price) */
  copy?(resource: Resource): Record<string, unknown>;
}

/** The state a run is decided from: fences by `branchKey`, resources by id (absent: unknown). */
export interface LedgerState<R> {
  fences: ReadonlyMap<string, Fence<R>>;
  resources: ReadonlyMap<string, Resource>;
}

export function branchKey(orderId: string, resourceId: string, perResource: boolean): string {
  // PostgreSQL prints uuids in lower case; a command may spell its order id in upper case
  const order = orderId.toLowerCase();
  return perResource ? `${order} ${resourceId}` : order;
}

export interface FenceChange<R> {
  key: string;
  /** as read: the write inserts when undefined, and otherwise checks it is unchanged */
  before: Fence<R> | undefined;
  after: Fence<R>;
  orderId: string;
}

export interface ResourceChange {
  id: string;
  before: Buckets;
  after: Buckets;
}

export interface Step<C, R> {
  command: C;
  outcome: Outcome<R>;
  reply: R;
  what: string;
}

export interface Run<C, R> {
  /** one per command decided, in order */
  steps: Step<C, R>[];
  /** the command the run ended before: its fence is another resource's, a protocol error */
  stoppedAt?: { command: C; message: string };
  fences: FenceChange<R>[];
  resources: ResourceChange[];
}

/** Decides `commands` in order over `state`; ends before a command naming another resource's fence. */
export function planRun<C extends { type: string }, R>(
  commands: readonly C[],
  state: LedgerState<R>,
  now: Date,
  rules: ParticipantRules<C, R>,
): Run<C, R> {
  const ledger = new Ledger(state);
  const steps: Step<C, R>[] = [];
  for (const command of commands) {
    const branch = rules.toBranch(command);
    const key = branchKey(branch.orderId, branch.resourceId, rules.branchPerResource);
    const fence = ledger.fence(key);
    const resource = ledger.resource(branch.resourceId);
    const outcome = decide(branch, fence, resource, now, rules.maxHoldMs);
    if (outcome.kind === 'foreign') {
      const message = `${command.type} for order ${branch.orderId} names ${branch.resourceId}, but the order's branch belongs to ${outcome.owner}`;
      return { steps, stoppedAt: { command, message }, ...ledger.changes() };
    }
    const reply = outcome.kind === 'replay' ? outcome.reply : rules.reply(command, outcome, resource);
    const copied = outcome.kind === 'tried' && resource && rules.copy ? rules.copy(resource) : {};
    const after = evolveFence(fence, branch, outcome, reply, { words: rules.words, copied });
    if (after && after !== fence) ledger.setFence(key, branch.orderId, after);
    if (resource && movesResource(outcome)) ledger.setBuckets(resource, evolveResource(resource, outcome));
    steps.push({ command, outcome, reply, what: rules.describe(branch, outcome, resource) });
  }
  return { steps, ...ledger.changes() };
}

/** A branch the sweeper released. */
export interface Expiry<R> {
  orderId: string;
  fence: Fence<R>;
}

/** The sweeper's run: expires the given branches that are still held, releasing their resources. */
export function planExpiries<R>(
  due: readonly { key: string; orderId: string }[],
  state: LedgerState<R>,
): { expired: Expiry<R>[]; fences: FenceChange<R>[]; resources: ResourceChange[] } {
  const ledger = new Ledger(state);
  const expired: Expiry<R>[] = [];
  for (const { key, orderId } of due) {
    const fence = ledger.fence(key);
    const outcome = fence && decideExpiry(fence);
    if (!fence || !outcome) continue;
    const resource = ledger.resource(fence.resourceId);
    if (!resource) throw new Error(`${fence.resourceId} is missing although order ${orderId} holds it`);
    ledger.setFence(key, orderId, expireFence(fence));
    ledger.setBuckets(resource, evolveResource(resource, outcome));
    expired.push({ orderId, fence });
  }
  return { expired, ...ledger.changes() };
}

/** The fold's working copy: the state as read, and what the run changed of it. */
class Ledger<R> {
  private readonly fences = new Map<string, FenceChange<R>>();
  private readonly buckets = new Map<string, ResourceChange>();

  constructor(private readonly read: LedgerState<R>) {}

  fence(key: string): Fence<R> | undefined {
    return this.fences.get(key)?.after ?? this.read.fences.get(key);
  }

  resource(id: string): Resource | undefined {
    const read = this.read.resources.get(id);
    const changed = this.buckets.get(id);
    return read && changed ? { ...read, buckets: changed.after } : read;
  }

  setFence(key: string, orderId: string, after: Fence<R>): void {
    const before = this.read.fences.get(key);
    this.fences.set(key, { key, orderId: this.fences.get(key)?.orderId ?? orderId, before, after });
  }

  setBuckets(resource: Resource, after: Buckets): void {
    const before = this.read.resources.get(resource.id)?.buckets ?? resource.buckets;
    this.buckets.set(resource.id, { id: resource.id, before, after });
  }

  changes(): { fences: FenceChange<R>[]; resources: ResourceChange[] } {
    return {
      fences: [...this.fences.values()],
      resources: [...this.buckets.values()].filter((r) => !sameBuckets(r.before, r.after)),
    };
  }
}
