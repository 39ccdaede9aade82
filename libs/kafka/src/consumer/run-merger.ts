/**
 * Merges the runs that several partitions offer at about the same moment into ONE call of the batch
 * handler. kafkajs hands each partition of a fetch to its own `eachBatch`, all in the same turn of
 * the event loop; without merging, each run of a fetch was its own statement and commit, and the
 * next fetch waited for the slowest of them.
 *
 * The runs are concatenated in the order they were offered, and the handler answers how many
 * leading messages of the whole sequence it handled, as it does for one run: it decides them in that
 * order, each from the state the messages before it left. That is a valid order for all of them:
 * messages of one partition keep their offset order, and messages of different partitions have no
 * order between them. Each run is then told how many of its own leading messages were handled: all
 * of them, or, in the run the handler stopped in, those before the message it stopped at. The runs
 * after that one were not looked at; they go first into the next call, straight away.
 */
export class RunMerger<T> {
  private pending: Offer<T>[] = [];
  private scheduled = false;

  /**
   * @param handle the batch handler over the merged sequence; answers how many leading messages it
   *   handled, or throws having written nothing
   * @param maxMessages most messages in one merged call; runs past it wait for the next call
   */
  constructor(
    private readonly handle: (messages: readonly T[]) => Promise<number>,
    private readonly maxMessages: number,
  ) {}

  /**
   * Offers a run; resolves with how many of its leading messages were handled, or rejects with the
   * handler's error (nothing of the run was written).
   */
  offer(run: readonly T[]): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ run, resolve, reject });
      this.schedule();
    });
  }

  /** After this turn's offers are in (every partition of a fetch offers in the same turn). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const taken: Offer<T>[] = [];
    let size = 0;
    while (this.pending.length > 0) {
      const next = this.pending[0] as Offer<T>;
      if (taken.length > 0 && size + next.run.length > this.maxMessages) break;
      taken.push(next);
      size += next.run.length;
      this.pending.shift();
    }
    if (this.pending.length > 0) this.schedule();
    if (taken.length === 0) return;
    const messages = taken.length === 1 ? (taken[0] as Offer<T>).run : taken.flatMap((o) => o.run);
    let handled: number;
    try {
      handled = Math.max(0, await this.handle(messages));
    } catch (error) {
      for (const o of taken) o.reject(error);
      return;
    }
    let before = 0;
    const unseen: Offer<T>[] = [];
    for (const o of taken) {
      if (before > handled) unseen.push(o);
      else o.resolve(Math.min(handled - before, o.run.length));
      before += o.run.length;
    }
    if (unseen.length > 0) {
      this.pending.unshift(...unseen);
      this.schedule();
    }
  }
}

interface Offer<T> {
  run: readonly T[];
  resolve: (handled: number) => void;
  reject: (error: unknown) => void;
}
