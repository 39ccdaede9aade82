import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { newSeed } from './prng';

export const USAGE = `Usage: ./dev chaos [options]

Starts its own Kafka broker and PostgreSQL cluster (on free ports, in temporary directories),
the services as processes (order x1, stock x2, payment x2, sharing their consumer groups), and
places orders from concurrent clients while it SIGKILLs and restarts every service, restarts
Kafka and PostgreSQL, adds and removes instances, publishes commands twice, sends cancels
before tries and bad input of every kind. Then it waits for quiet, checks that every bad input
got its documented treatment, runs the invariant checker, prints a summary and exits 1 on any
failure. Everything it started is stopped at the end, also on failure and Ctrl-C.

  --seed N            repeat a run: every random choice comes from this seed (default: new, printed)
  --short             the CI version: 60 s of chaos, one kill per service, every other fault once
  --duration SEC      seconds of load and faults (default 240; --short 60)
  --kills N           SIGKILLs per service (default 3; --short 1)
  --clients N         concurrent HTTP clients (default 12; --short 6)
  --duplicates SHARE  share of orders whose commands are published twice (default 0.2)
  --out DIR           logs and summary.json (default chaos-results/<time>-seed-<seed>)
  --postgres-url URL  use this server instead of starting one (it is then not restarted)
  --secure            its broker secured (kafka.sh start --secure): each service with its own SCRAM
                      user and only its topics' ACLs, the run's own clients as admin; and a client
                      without credentials must be refused
  --json              print the summary as JSON
  -h, --help

Exit: 0 passed, 1 a failure (invariant violated, bad input mistreated, fault not carried out,
no quiet), 2 bad arguments, 3 the run could not be set up.`;

const options = {
  seed: { type: 'string' },
  short: { type: 'boolean', default: false },
  duration: { type: 'string' },
  kills: { type: 'string' },
  clients: { type: 'string' },
  duplicates: { type: 'string' },
  out: { type: 'string' },
  'postgres-url': { type: 'string' },
  secure: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Bad arguments: the message is printed with the usage, and the run exits 2. */
export class UsageError extends Error {}

export interface RunSettings {
  seed: number;
  short: boolean;
  durationMs: number;
  kills: number;
  clients: number;
  share: number;
  out: string;
  postgresUrl: string | undefined;
  secure: boolean;
  json: boolean;
  argv: string[];
}

/** The run's settings from the command line, or 'help' when --help asks only for the usage. */
export function parseSettings(argv: string[]): RunSettings | 'help' {
  let v;
  try {
    v = parseArgs({ args: argv, options, strict: true }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (v.help) return 'help';
  const short = v.short;
  const seed = whole('seed', v.seed, newSeed());
  const share = v.duplicates === undefined ? 0.2 : Number(v.duplicates);
  if (!(share >= 0 && share <= 1))
    throw new UsageError(`--duplicates takes a share from 0 to 1 (got "${v.duplicates}")`);
  return {
    seed,
    short,
    durationMs: whole('duration', v.duration, short ? 60 : 240, 20) * 1_000,
    kills: whole('kills', v.kills, short ? 1 : 3),
    clients: whole('clients', v.clients, short ? 6 : 12),
    share,
    out: resolve(
      v.out ?? join('chaos-results', `${new Date().toISOString().replace(/[:.]/g, '-')}-seed-${seed}`),
    ),
    postgresUrl: v['postgres-url'],
    secure: v.secure,
    json: v.json,
    argv,
  };
}

/** A whole-number option's value (at least `min`), or `fallback` when not given. */
export function whole(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name} takes a whole number >= ${min} (got "${value}")`);
  return Number(value);
}

/** The command that repeats this run: its seed and the flags that shape it. */
export function repeatCommand(s: RunSettings): string {
  const parts = ['./dev chaos', `--seed ${s.seed}`];
  if (s.short) parts.push('--short');
  if (s.secure) parts.push('--secure');
  const flags: [string, string][] = [];
  for (let i = 0; i < s.argv.length; i++) {
    const a = s.argv[i] ?? '';
    if (['--duration', '--kills', '--clients', '--duplicates'].includes(a))
      flags.push([a, s.argv[i + 1] ?? '']);
  }
  for (const [f, val] of flags) parts.push(`${f} ${val}`);
  return parts.join(' ');
}
