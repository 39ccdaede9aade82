import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSettings } from './options';

/** The run could not be set up (exit 3), as opposed to a run that failed (exit 1). */
export class SetupError extends Error {}

/** One run (chaos or failover): its settings, its log, what to stop at the end, and what its faults did. */
export interface Run<S extends RunBase = RunSettings> {
  readonly s: S;
  readonly t0: number;
  /** to stderr and to chaos.log, with the seconds since the start */
  readonly log: (message: string) => void;
  /** what stops what the run started, run last first by cleanUp */
  readonly cleanups: (() => Promise<void>)[];
  /** faults that could not be carried out */
  readonly faultErrors: string[];
  readonly restarts: { kafka: number; postgres: number };
}

/** What every run's settings hold: where its logs go, and the seed of its random choices. */
export interface RunBase {
  out: string;
  seed: number;
}

export function openRun<S extends RunBase>(s: S, logName = 'chaos.log'): Run<S> {
  const t0 = Date.now();
  mkdirSync(join(s.out, 'logs'), { recursive: true });
  const logFile = join(s.out, logName);
  return {
    s,
    t0,
    log: (message) => {
      const line = `[${((Date.now() - t0) / 1_000).toFixed(1).padStart(6)}s] ${message}`;
      process.stderr.write(`${line}\n`);
      appendFileSync(logFile, `${line}\n`);
    },
    cleanups: [],
    faultErrors: [],
    restarts: { kafka: 0, postgres: 0 },
  };
}

/** Stops everything the run started, the last started first; a step that fails is logged. */
export async function cleanUp(run: Run<RunBase>): Promise<void> {
  while (run.cleanups.length > 0) {
    const step = run.cleanups.pop();
    await step?.().catch((error: Error) => run.log(`cleanup: ${error.message}`));
  }
}
