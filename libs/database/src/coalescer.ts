/**
 * Runs jobs that arrive while a statement is in flight together, as ONE statement: group commit
 * done by the application. A job that finds nothing in flight starts at once, so an idle service
 * adds no wait; under load the jobs that queue behind one statement go in the next, so the batches
 * grow with the load and each order stops paying a statement and a commit of its own (on the
 * development machine one placing statement cost PostgreSQL 300 µs of CPU, whether it wrote one
 * order or several).
 *
 * At most one statement runs at a time. Jobs with the same `key` never share a statement (the
 * later one goes into the next), so a statement can treat its jobs as independent. A statement
 * with several jobs that failed for what one job carries (`blames`: bad data, a constraint) is not
 * blamed on all of them: each is run again on its own, and only the job that fails alone gets the
 * error. Any other failure (the database away, a timeout) fails them all at once: run again one
 * by one, each would wait for the same timeout behind the others.
 */
export class Coalescer<J, R> {
  private queue: Queued<J, R>[] = [];
  private running = false;

  /**
   * @param run runs the jobs as one statement; answers one result per job, in job order
   * @param options.maxJobs most jobs in one statement
   * @param options.key jobs with the same key go into different statements
   * @param options.blames whether an error may be one job's doing (then each job runs again alone);
   *   by default, PostgreSQL's data exceptions and integrity violations (SQLSTATE 22, 23)
   */
  constructor(
    private readonly run: (jobs: readonly J[]) => Promise<readonly R[]>,
    private readonly options: {
      maxJobs: number;
      key?: (job: J) => string;
      blames?: (error: unknown) => boolean;
    },
  ) {}

  submit(job: J): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.take();
        try {
          this.settle(batch, await this.run(batch.map((q) => q.job)));
        } catch (error) {
          const blames = this.options.blames ?? isDataError;
          if (batch.length > 1 && blames(error)) for (const one of batch) await this.alone(one);
          else for (const q of batch) q.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** The next statement's jobs: in arrival order, no key twice, at most maxJobs. */
  private take(): Queued<J, R>[] {
    const keyOf = this.options.key;
    const keys = new Set<string>();
    const taken: Queued<J, R>[] = [];
    const left: Queued<J, R>[] = [];
    for (const q of this.queue) {
      const key = keyOf?.(q.job);
      if (taken.length >= this.options.maxJobs || (key !== undefined && keys.has(key))) left.push(q);
      else {
        if (key !== undefined) keys.add(key);
        taken.push(q);
      }
    }
    this.queue = left;
    return taken;
  }

  private settle(batch: readonly Queued<J, R>[], results: readonly R[]): void {
    if (results.length !== batch.length) {
      const error = new Error(`a statement of ${batch.length} jobs answered ${results.length} results`);
      for (const q of batch) q.reject(error);
      return;
    }
    batch.forEach((q, i) => q.resolve(results[i] as R));
  }

  private async alone(one: Queued<J, R>): Promise<void> {
    try {
      this.settle([one], await this.run([one.job]));
    } catch (error) {
      one.reject(error);
    }
  }
}

/** PostgreSQL's data exceptions (22xxx) and integrity constraint violations (23xxx). */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

interface Queued<J, R> {
  job: J;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}
