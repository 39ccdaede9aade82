import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSettings } from './options';

/** The run could not be set up (exit 3), as opposed to a run that failed (exit 1). */
export class SetupError extends Error {}

/** One chaos run: its settings, its log, what to stop at the end, and what its faults did. */
export interface Run {
  readonly s: RunSettings;
  readonly t0: number;
  /** to stderr and to chaos.log, with the seconds since the start */
  readonly log: (message: string) => void;
  /** what stops what the run started, run last first by cleanUp */
  readonly cleanups: (() => Promise<void>)[];
  /** faults that could not be carried out */
  readonly faultErrors: string[];
  readonly restarts: { kafka: number; postgres: number };
}

export function openRun(s: RunSettings): Run {
  const t0 = Date.now();
  mkdirSync(join(s.out, 'logs'), { recursive: true });
  const logFile = join(s.out, 'chaos.log');
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
export async function cleanUp(run: Run): Promise<void> {
  while (run.cleanups.length > 0) {
    const step = run.cleanups.pop();
    await step?.().catch((error: Error) => run.log(`cleanup: ${error.message}`));
  }
}
