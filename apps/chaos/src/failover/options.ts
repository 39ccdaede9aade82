import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError, whole } from '../options';
import { newSeed } from '../prng';
import type { FaultKind } from './report';

export const USAGE = `Usage: ./dev failover [options]

Starts its own three-node Kafka cluster (replication factor 3, min.insync.replicas 2) and
PostgreSQL cluster, two instances of each service, and places orders at a fixed rate spread over
both order instances. Then, one at a time with recovery in between, it SIGKILLs an order
instance, a stock instance, a payment instance and the broker whose loss stops the most (the
one coordinating the most consumer groups, then leading the most partitions), restarting each
afterwards. For every fault it reports the takeover time (from the kill to the first message
handled on each partition the victim owned, led or whose group it coordinated), the orders
cancelled by TIMEOUT and p99 latency of the orders sent in the fault's window; then it runs the
invariant checker. Everything it started is stopped at the end, also on failure and Ctrl-C.

  --seed N            repeat a run: every random choice comes from this seed (default: new, printed)
  --short             the CI version: a lower rate and shorter phases, every fault once
  --rate N            orders per second, spread over the order instances (default 100; --short 15)
  --warmup SEC        load before anything is measured: new JVMs and processes, empty tables
                      (default 60; --short 45)
  --settle SEC        load before the first fault and after each recovery (default 20; --short 10)
  --down SEC          how long a killed process stays down (default 15; --short 10)
  --faults LIST       which faults, in this order (default order,stock,payment,broker)
  --out DIR           logs and summary.json (default failover-results/<time>-seed-<seed>)
  --json              print the summary as JSON
  -h, --help

Exit: 0 passed (no order cancelled by TIMEOUT, every order final, every invariant holds, every
fault carried out), 1 failed, 2 bad arguments, 3 the run could not be set up.`;

const options = {
  seed: { type: 'string' },
  short: { type: 'boolean', default: false },
  rate: { type: 'string' },
  warmup: { type: 'string' },
  settle: { type: 'string' },
  down: { type: 'string' },
  faults: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export interface FailoverSettings {
  seed: number;
  short: boolean;
  /** orders per second over all order instances */
  rate: number;
  warmupMs: number;
  settleMs: number;
  downMs: number;
  faults: FaultKind[];
  out: string;
  json: boolean;
  argv: string[];
}

/** The run's settings from the command line, or 'help' when --help asks only for the usage. */
export function parseFailoverSettings(argv: string[]): FailoverSettings | 'help' {
  let v;
  try {
    v = parseArgs({ args: argv, options, strict: true }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (v.help) return 'help';
  const short = v.short;
  const seed = whole('seed', v.seed, newSeed());
  return {
    seed,
    short,
    rate: whole('rate', v.rate, short ? 15 : 100),
    warmupMs: whole('warmup', v.warmup, short ? 45 : 60, 0) * 1_000,
    settleMs: whole('settle', v.settle, short ? 10 : 20, 5) * 1_000,
    downMs: whole('down', v.down, short ? 10 : 15, 1) * 1_000,
    faults: faultList(v.faults),
    out: resolve(
      v.out ?? join('failover-results', `${new Date().toISOString().replace(/[:.]/g, '-')}-seed-${seed}`),
    ),
    json: v.json,
    argv,
  };
}

const FAULTS: readonly FaultKind[] = ['order', 'stock', 'payment', 'broker'];

function faultList(value: string | undefined): FaultKind[] {
  if (value === undefined) return [...FAULTS];
  const list = value.split(',').map((f) => f.trim());
  const bad = list.filter((f) => !(FAULTS as readonly string[]).includes(f));
  if (bad.length > 0 || list.length === 0)
    throw new UsageError(`--faults takes a comma-separated list of ${FAULTS.join(', ')} (got "${value}")`);
  return list as FaultKind[];
}

/** The command that repeats this run: its seed and the flags that shape it. */
export function repeatFailover(s: FailoverSettings): string {
  const parts = ['./dev failover', `--seed ${s.seed}`];
  if (s.short) parts.push('--short');
  for (let i = 0; i < s.argv.length; i++) {
    const a = s.argv[i] ?? '';
    if (['--rate', '--warmup', '--settle', '--down', '--faults'].includes(a))
      parts.push(`${a} ${s.argv[i + 1] ?? ''}`);
  }
  return parts.join(' ');
}
