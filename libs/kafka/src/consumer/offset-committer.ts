import { setTimeout as sleep } from 'node:timers/promises';

export interface PartitionOffset {
  topic: string;
  partition: number;
  /** the next offset to read: the handled message's offset + 1 */
  offset: string;
}

export interface OffsetCommitterOptions {
  /** sends one OffsetCommit request (kafkajs `consumer.commitOffsets`) */
  commit: (offsets: PartitionOffset[]) => Promise<void>;
  /** a failed request; its offsets are sent again unless a newer mark or a rebalance replaced them */
  onError: (error: unknown, offsets: PartitionOffset[], attempt: number) => void;
  /** wait before re-sending after the n-th failure in a row */
  retryDelayMs?: (attempt: number) => number;
  /**
   * least time from one request to the next (default 0): marks made meanwhile wait and go in one
   * request. `flush()` does not wait.
   */
  intervalMs?: number;
}

/**
 * Commits handled offsets by hand, off the message path. A partition's handler marks its message's
 * offset only after the message's database transaction committed, then goes straight on to the
 * next message; at most one OffsetCommit request is in flight per consumer, carrying the newest
 * mark of every partition marked since the last one, and requests are at least `intervalMs` apart.
 * That is one request for many messages instead of one round trip per message, also at low load.
 *
 * What was marked but not yet committed when a process dies is delivered again; the handlers are
 * idempotent (message ids, TCC fences), so that costs a duplicate, never a lost or double effect.
 */
export class OffsetCommitter {
  private readonly pending = new Map<string, PartitionOffset>();
  private assigned: Set<string> | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private lastSent = 0;
  /** ends the wait for the interval (flush) */
  private hurry: (() => void) | undefined;
  private flushing = 0;

  constructor(private readonly options: OffsetCommitterOptions) {}

  mark(topic: string, partition: number, offset: string): void {
    const key = keyOf(topic, partition);
    // finished after a rebalance moved its partition: the new owner handles it again (idempotently)
    if (this.assigned !== undefined && !this.assigned.has(key)) return;
    this.pending.set(key, { topic, partition, offset });
    this.running ??= this.run();
  }

  /**
   * The member's partitions after a rebalance: marks for partitions it no longer owns are dropped,
   * so a late commit never moves another member's committed offset backwards.
   */
  assign(assignment: Record<string, number[]>): void {
    this.assigned = new Set(
      Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => keyOf(topic, p))),
    );
    for (const key of this.pending.keys()) if (!this.assigned.has(key)) this.pending.delete(key);
  }

  /** Resolves once every offset marked so far was committed, or its commit failed for good. */
  async flush(): Promise<void> {
    this.flushing++;
    try {
      this.hurry?.();
      while (this.running) await this.running;
    } finally {
      this.flushing--;
    }
  }

  /** Marked and not yet sent (for tests and shutdown logs). */
  get backlog(): number {
    return this.pending.size;
  }

  private async run(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        await this.interval();
        const batch = [...this.pending.values()];
        this.pending.clear();
        try {
          this.lastSent = Date.now();
          await this.options.commit(batch);
          this.failures = 0;
        } catch (error) {
          this.failures++;
          this.options.onError(error, batch, this.failures);
          for (const o of batch) {
            const key = keyOf(o.topic, o.partition);
            const owned = this.assigned === undefined || this.assigned.has(key);
            if (owned && !this.pending.has(key)) this.pending.set(key, o);
          }
          await sleep((this.options.retryDelayMs ?? defaultRetryDelay)(this.failures));
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  /** Waits until `intervalMs` have passed since the last request, unless a flush is waiting. */
  private async interval(): Promise<void> {
    const wait = this.lastSent + (this.options.intervalMs ?? 0) - Date.now();
    if (wait <= 0 || this.flushing > 0) return;
    const ac = new AbortController();
    this.hurry = () => ac.abort();
    await sleep(wait, undefined, { signal: ac.signal }).catch(() => undefined);
    this.hurry = undefined;
  }
}

function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function defaultRetryDelay(attempt: number): number {
  return Math.min(5_000, 100 * 2 ** (attempt - 1));
}
