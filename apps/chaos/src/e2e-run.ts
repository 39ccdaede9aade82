import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runNode, workspaceRoot } from '@tcc/testing';
import { infraEnv } from './infra';

/** What an e2e test reads of a run: its exit code and the summary.json it wrote. */
export interface RunOutcome<S> {
  exitCode: number | null;
  summary: S;
}

/**
 * Runs a built entry point of this app (`script`, under apps/chaos/dist) with `--seed`, `--out`
 * and `--json` after `args`, with only the environment its own Kafka and PostgreSQL need, and reads
 * the summary it wrote. A run that wrote none fails with its seed and the end of its stderr.
 */
export async function runForSummary<S>(
  label: string,
  script: string,
  args: string[],
  seed: string,
): Promise<RunOutcome<S>> {
  const out = join(workspaceRoot, 'tmp', `${label}-e2e`, `seed-${seed}`);
  process.stderr.write(`${label} e2e: seed ${seed}, logs in ${out}\n`);
  const run = await runNode(
    join(workspaceRoot, 'apps', 'chaos', 'dist', script),
    [...args, '--seed', seed, '--out', out, '--json'],
    infraEnv(),
  );
  const file = join(out, 'summary.json');
  if (!existsSync(file))
    throw new Error(
      `seed ${seed}: the run wrote no summary (exit ${run.code}):\n${run.stderr.slice(-6_000)}`,
    );
  return { exitCode: run.code, summary: JSON.parse(readFileSync(file, 'utf8')) as S };
}
