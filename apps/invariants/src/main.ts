import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ConfigError } from '@tcc/config';
import { kafkaSecurityFromEnv } from '@tcc/kafka';
import type { KafkaSecurityOptions } from '@tcc/kafka';
import { runChecks } from './checks';
import type { CheckResult, Snapshot } from './checks';
import { loadSnapshot } from './load';
import type { Sources } from './load';

const USAGE = `Usage: ./dev check [options]

Reads the three databases and the topics and checks that no order, item or point was lost or
counted twice. Prints each check with its counts; exits 1 on any violation.

  1 products: available >= 0, reserved >= 0, available + reserved + sold = stocked in total
  2 reserved = sum of live reservations; none older than its time to live plus --grace-ms
  3 wallets: balance >= 0, balance + held + captured = topped up in total; held = live holds
  4 orders went through allowed states (and, with --quiet, all are CONFIRMED or CANCELLED)
  5 CONFIRMED: one confirmed reservation per line and one capture; CANCELLED: nothing sold or captured
  6 every accepted POST /orders has its order, none without one (needs --accepted)
  7 consumer lag 0 (with --quiet); every dead letter has a reason and its order is final

Options:
  --order-db URL, --stock-db URL, --payment-db URL
                      the databases (default: ORDER_DATABASE_URL etc., else tcc_<service> on POSTGRES_URL,
                      which ./dev check sets to the PostgreSQL ./dev up started)
  --brokers LIST      Kafka for checks 6-7 (default: KAFKA_BROKERS, else 127.0.0.1:9092); --no-kafka skips it
  --prefix P          topic prefix (default: KAFKA_TOPIC_PREFIX)
  --groups LIST       the services' consumer groups, for check 7 (default: tcc-order,tcc-stock,tcc-payment,
                      the services' default KAFKA_GROUP_ID)
  --accepted FILE     JSON array of {"customerId","idempotencyKey","orderId"} the clients were answered with
  --quiet             the system should be quiet: every order final, no lag
  --wait-quiet SEC    wait up to SEC seconds for quiet first (implies --quiet)
  --grace-ms N        grace after a reservation's time to live (default 10000)
  --json              results as JSON
  -h, --help

A secured broker: KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and
KAFKA_SASL_PASSWORD, as the services read them (e.g. export $(./dev kafka secure-env admin)).`;

const options = {
  'order-db': { type: 'string' },
  'stock-db': { type: 'string' },
  'payment-db': { type: 'string' },
  brokers: { type: 'string' },
  'no-kafka': { type: 'boolean', default: false },
  prefix: { type: 'string' },
  groups: { type: 'string' },
  accepted: { type: 'string' },
  quiet: { type: 'boolean', default: false },
  'wait-quiet': { type: 'string' },
  'grace-ms': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

class UsageError extends Error {}

/** The services' default KAFKA_GROUP_ID. */
const DEFAULT_GROUPS = 'tcc-order,tcc-stock,tcc-payment';

/** SASL and TLS from the services' variables; bad ones are bad arguments. */
function kafkaSecurity(env: NodeJS.ProcessEnv): KafkaSecurityOptions {
  try {
    return kafkaSecurityFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

function dbUrl(env: NodeJS.ProcessEnv, service: string): string {
  const given = env[`${service.toUpperCase()}_DATABASE_URL`];
  if (given) return given;
  const server = env['POSTGRES_URL'];
  if (!server)
    throw new UsageError(
      `no ${service} database: give --${service}-db or ${service.toUpperCase()}_DATABASE_URL, or POSTGRES_URL (./dev check sets it while ./dev up's PostgreSQL runs)`,
    );
  const base = new URL(server);
  base.pathname = `/tcc_${service}`;
  return base.toString();
}

function seconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number (got "${value}")`);
  return Number(value);
}

function loadAccepted(file: string | undefined): Snapshot['accepted'] {
  if (!file) return null;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--accepted ${file}: ${(error as Error).message}`);
  }
  if (
    !Array.isArray(data) ||
    !data.every((d: unknown) => {
      const entry = d as { customerId?: unknown; idempotencyKey?: unknown; orderId?: unknown } | null;
      return (
        typeof entry?.customerId === 'string' &&
        typeof entry.idempotencyKey === 'string' &&
        typeof entry.orderId === 'string'
      );
    })
  ) {
    throw new UsageError(
      `--accepted ${file}: expected a JSON array of {"customerId": "...", "idempotencyKey": "...", "orderId": "..."}`,
    );
  }
  return data as Snapshot['accepted'];
}

function isQuiet(s: Omit<Snapshot, 'accepted'>): boolean {
  return (
    s.orders.every((o) => o.status === 'CONFIRMED' || o.status === 'CANCELLED') &&
    (s.lags ?? []).every((l) => l.lag === 0) &&
    (s.idleGroups ?? []).length === 0
  );
}

function print(results: CheckResult[]): void {
  for (const r of results) {
    const verdict = r.skipped
      ? `SKIPPED (${r.skipped})`
      : r.violations.length === 0
        ? 'ok'
        : `${r.violations.length} VIOLATION(S)`;
    process.stdout.write(`${r.id}. ${r.name}\n   checked ${r.checked}: ${verdict}\n`);
    for (const v of r.violations.slice(0, 20)) process.stdout.write(`     - ${v}\n`);
    if (r.violations.length > 20) process.stdout.write(`     … and ${r.violations.length - 20} more\n`);
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    let values;
    try {
      values = parseArgs({ args: argv, options, strict: true }).values;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const wait = seconds('wait-quiet', values['wait-quiet']);
    const grace = seconds('grace-ms', values['grace-ms']) ?? 10_000;
    const sources: Sources = {
      orderDb: values['order-db'] ?? dbUrl(env, 'order'),
      stockDb: values['stock-db'] ?? dbUrl(env, 'stock'),
      paymentDb: values['payment-db'] ?? dbUrl(env, 'payment'),
      brokers: values['no-kafka']
        ? null
        : (values.brokers ?? env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(','),
      prefix: values.prefix ?? env['KAFKA_TOPIC_PREFIX'] ?? '',
      groups: (values.groups ?? DEFAULT_GROUPS)
        .split(',')
        .map((g) => g.trim())
        .filter(Boolean),
      kafkaSecurity: kafkaSecurity(env),
    };
    const accepted = loadAccepted(values.accepted);
    let snapshot = await loadSnapshot(sources);
    if (wait !== undefined) {
      const deadline = Date.now() + wait * 1_000;
      while (!isQuiet(snapshot) && Date.now() < deadline) {
        await sleep(500);
        snapshot = await loadSnapshot(sources);
      }
    }
    const results = runChecks(
      { ...snapshot, accepted },
      { graceMs: grace, expectQuiet: values.quiet || wait !== undefined },
    );
    const failed = results.filter((r) => r.violations.length > 0);
    if (values.json)
      process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, results }, null, 2)}\n`);
    else {
      print(results);
      process.stdout.write(
        failed.length === 0
          ? '\nall invariants hold\n'
          : `\n${failed.length} invariant(s) violated: ${failed.map((f) => f.id).join(', ')}\n`,
      );
    }
    return failed.length === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(
      `check: ${(error as Error).message}${error instanceof UsageError ? `\n\n${USAGE}` : ''}\n`,
    );
    return error instanceof UsageError ? 2 : 3;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
