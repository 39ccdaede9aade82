import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
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

/** How a kind of run reports itself: its name, its summary's text, the command that repeats it. */
export interface RunReport<S extends RunBase & { json: boolean }, R extends { ok: boolean }> {
  /** e.g. "CHAOS RUN" */
  title: string;
  format: (summary: R) => string;
  repeat: (s: S) => string;
}

/**
 * Carries a run out: `body`, then its summary (summary.json, and printed as text or JSON), and
 * stops everything it started, also on failure and on SIGINT/SIGTERM. Exit code: 0 passed,
 * 1 failed, 3 could not be set up (130 on a signal).
 */
export async function runToEnd<S extends RunBase & { json: boolean }, R extends { ok: boolean }>(
  run: Run<S>,
  body: (run: Run<S>) => Promise<R>,
  report: RunReport<S, R>,
): Promise<number> {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    run.log(`${signal}: stopping everything the run started`);
    void cleanUp(run).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await body(run);
    writeFileSync(join(run.s.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await cleanUp(run);
    process.stdout.write(run.s.json ? `${JSON.stringify(summary, null, 2)}\n` : report.format(summary));
    return summary.ok ? 0 : 1;
  } catch (error) {
    const setup = error instanceof SetupError;
    run.log(
      `${setup ? 'could not set the run up' : 'the run failed'}: ${(error as Error).stack ?? String(error)}`,
    );
    await cleanUp(run);
    process.stderr.write(
      `\n${report.title} ${setup ? 'COULD NOT START' : 'FAILED'} (seed ${run.s.seed}): ${(error as Error).message}\n` +
        `logs in ${run.s.out}\nrepeat it with: ${report.repeat(run.s)}\n`,
    );
    return setup ? 3 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
