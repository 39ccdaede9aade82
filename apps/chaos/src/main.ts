import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { deadLetterTopicOf, Topics } from '@tcc/contracts';
import { runScript, workspaceRoot } from '@tcc/testing';
import { CONSUMED_TOPICS, HttpBadInputs, KafkaBadInputs } from './bad-inputs';
import { CancelBeforeTry } from './cancel-before-try';
import { makeCatalog, OrderClients } from './clients';
import type { Catalog } from './clients';
import { Fleet } from './fleet';
import { postUntilAnswered } from './http';
import { GivenPostgres, OwnKafka, OwnPostgres } from './infra';
import type { Postgres } from './infra';
import { ChaosKafka, Duplicator } from './kafka';
import { describeEvent, planFaults, SERVICES } from './plan';
import type { FaultEvent, KafkaBadInput, ServiceName } from './plan';
import { newSeed, Prng } from './prng';
import { formatSummary, judge } from './summary';
import type { ChaosSummary, InvariantResult, Unjudged } from './summary';

const USAGE = `Usage: ./dev chaos [options]

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
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

class UsageError extends Error {}
class SetupError extends Error {}

function whole(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new UsageError(`--${name} takes a whole number >= ${min} (got "${value}")`);
  return Number(value);
}

const SHUTDOWN_TIMEOUT_MS = 10_000;

/** Service settings for quick recovery: a killed member's partitions move after 6 s, retries are short. */
function serviceEnv(
  service: ServiceName,
  port: number,
  databaseUrl: string,
  brokers: string,
): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '5',
    KAFKA_BROKERS: brokers,
    KAFKA_GROUP_ID: `tcc-${service}`,
    KAFKA_TOPIC_PARTITIONS: '6',
    LOG_LEVEL: 'info',
    CONSUMER_CONCURRENCY: '3',
    CONSUMER_SESSION_TIMEOUT_MS: '6000',
    // long enough to ride out a PostgreSQL restart without dead-lettering real commands
    CONSUMER_RETRY_MAX_ATTEMPTS: '40',
    CONSUMER_RETRY_INITIAL_MS: '100',
    CONSUMER_RETRY_MAX_MS: '2000',
    OUTBOX_POLL_INTERVAL_MS: '500',
    ORDER_TRY_TIMEOUT_MS: '20000',
    // short, so that some reservations expire while a participant is down (confirm after expiry)
    ORDER_CONFIRM_WINDOW_MS: '15000',
    ORDER_RETRY_INITIAL_MS: '1000',
    ORDER_RETRY_MAX_MS: '4000',
    ORDER_SCHEDULER_INTERVAL_MS: '250',
    SWEEP_INTERVAL_MS: '500',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  };
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

export async function main(argv: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({ args: argv, options, strict: true }).values;
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let settings;
  try {
    const short = v.short;
    const seed = whole('seed', v.seed, newSeed());
    const share = v.duplicates === undefined ? 0.2 : Number(v.duplicates);
    if (!(share >= 0 && share <= 1))
      throw new UsageError(`--duplicates takes a share from 0 to 1 (got "${v.duplicates}")`);
    settings = {
      seed,
      short,
      durationMs: whole('duration', v.duration, short ? 60 : 240, 20) * 1_000,
      kills: whole('kills', v.kills, short ? 1 : 3),
      clients: whole('clients', v.clients, short ? 6 : 12),
      share,
    };
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const out = resolve(
    v.out ?? join('chaos-results', `${new Date().toISOString().replace(/[:.]/g, '-')}-seed-${settings.seed}`),
  );
  const run = new ChaosRun({ ...settings, out, postgresUrl: v['postgres-url'], json: v.json, argv });
  return run.execute();
}

interface RunSettings {
  seed: number;
  short: boolean;
  durationMs: number;
  kills: number;
  clients: number;
  share: number;
  out: string;
  postgresUrl: string | undefined;
  json: boolean;
  argv: string[];
}

class ChaosRun {
  private readonly t0 = Date.now();
  private readonly logFile: string;
  private readonly cleanups: (() => Promise<void>)[] = [];
  private readonly faultErrors: string[] = [];
  private kafkaRestarts = 0;
  private postgresRestarts = 0;

  constructor(private readonly s: RunSettings) {
    mkdirSync(join(s.out, 'logs'), { recursive: true });
    this.logFile = join(s.out, 'chaos.log');
  }

  private log(message: string): void {
    const line = `[${((Date.now() - this.t0) / 1_000).toFixed(1).padStart(6)}s] ${message}`;
    process.stderr.write(`${line}\n`);
    appendFileSync(this.logFile, `${line}\n`);
  }

  private repeatCommand(): string {
    const parts = ['./dev chaos', `--seed ${this.s.seed}`];
    if (this.s.short) parts.push('--short');
    const flags: [string, string][] = [];
    for (let i = 0; i < this.s.argv.length; i++) {
      const a = this.s.argv[i] ?? '';
      if (['--duration', '--kills', '--clients', '--duplicates'].includes(a))
        flags.push([a, this.s.argv[i + 1] ?? '']);
    }
    for (const [f, val] of flags) parts.push(`${f} ${val}`);
    return parts.join(' ');
  }

  async execute(): Promise<number> {
    let interrupted = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) return;
      interrupted = true;
      this.log(`${signal}: stopping everything the run started`);
      void this.cleanup().finally(() => process.exit(130));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const summary = await this.chaos();
      writeFileSync(join(this.s.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
      await this.cleanup();
      process.stdout.write(this.s.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
      return summary.ok ? 0 : 1;
    } catch (error) {
      const setup = error instanceof SetupError;
      this.log(
        `${setup ? 'could not set the run up' : 'the run failed'}: ${(error as Error).stack ?? String(error)}`,
      );
      await this.cleanup();
      process.stderr.write(
        `\nCHAOS RUN ${setup ? 'COULD NOT START' : 'FAILED'} (seed ${this.s.seed}): ${(error as Error).message}\n` +
          `logs in ${this.s.out}\nrepeat it with: ${this.repeatCommand()}\n`,
      );
      return setup ? 3 : 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  private async cleanup(): Promise<void> {
    while (this.cleanups.length > 0) {
      const step = this.cleanups.pop();
      await step?.().catch((error: Error) => this.log(`cleanup: ${error.message}`));
    }
  }

  private async setUp(): Promise<{ kafka: OwnKafka; pg: Postgres; dbs: Record<ServiceName, string> }> {
    const kafkaDir = mkdtempSync(join(tmpdir(), 'tcc-chaos-kafka-'));
    const given = this.s.postgresUrl;
    const [kafka, pg] = await Promise.all([
      OwnKafka.start(kafkaDir).catch((error: Error) => {
        throw new SetupError(`cannot start Kafka: ${error.message}`);
      }),
      (given
        ? Promise.resolve(new GivenPostgres(given))
        : OwnPostgres.start(mkdtempSync(join(tmpdir(), 'tcc-chaos-pg-')))
      ).catch((error: Error) => {
        throw new SetupError(
          `cannot start PostgreSQL (or give --postgres-url; it is then not restarted): ${error.message}`,
        );
      }),
    ]);
    this.cleanups.push(() => kafka.destroy(this.s.out));
    this.cleanups.push(() => pg.destroy(this.s.out));
    this.log(`Kafka at ${kafka.brokers}; PostgreSQL at ${pg.url('postgres')}`);
    const suffix = pg instanceof GivenPostgres ? `_chaos_${this.s.seed}` : '';
    const dbs = {} as Record<ServiceName, string>;
    for (const service of SERVICES) {
      dbs[service] = await pg.createDatabase(`tcc_${service}${suffix}`);
      const migrated = await runScript(service, 'migrate', { DATABASE_URL: dbs[service] });
      if (migrated.code !== 0) throw new SetupError(`${service} migrate failed: ${migrated.stderr}`);
    }
    this.log('databases created and migrated');
    return { kafka, pg, dbs };
  }

  private async seedCatalog(fleet: Fleet, catalog: Catalog): Promise<void> {
    const stats = { noAnswer: 0, serverErrors: 0 };
    for (const p of [...catalog.products, ...catalog.scarce]) {
      const r = await postUntilAnswered(
        `${fleet.url('stock')}/products`,
        JSON.stringify({ id: p.id, name: p.id, price: p.price, quantity: p.quantity }),
        {},
        stats,
      );
      if (r.status !== 201)
        throw new SetupError(`create product ${p.id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (const c of [...catalog.customers, ...catalog.poor]) {
      const r = await postUntilAnswered(
        `${fleet.url('payment')}/wallets`,
        JSON.stringify({ customerId: c.id, balance: c.balance }),
        {},
        stats,
      );
      if (r.status !== 201)
        throw new SetupError(`open wallet ${c.id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    this.log(
      `catalog: ${catalog.products.length} products, ${catalog.scarce.length} scarce (${catalog.scarce.map((p) => `${p.id}: ${p.quantity}`).join(', ')}); ` +
        `${catalog.customers.length} wallets, ${catalog.poor.length} poor`,
    );
  }

  private async chaos(): Promise<ChaosSummary> {
    const s = this.s;
    const root = new Prng(s.seed);
    const plan = planFaults(root.fork('plan'), {
      durationMs: s.durationMs,
      killsPerService: s.kills,
      cancelBeforeTryBatches: s.short ? 2 : 4,
      cancelBeforeTryPerBatch: 3,
    });
    this.log(`chaos run, seed ${s.seed} (repeat: ${this.repeatCommand()})`);
    this.log(
      `${s.durationMs / 1_000} s of load from ${s.clients} clients; ${(s.share * 100).toFixed(0)}% of orders duplicated; logs in ${relative(process.cwd(), s.out) || '.'}`,
    );
    for (const e of plan) this.log(`  plan: ${describeEvent(e)}`);

    const { kafka, pg, dbs } = await this.setUp();
    const fleet = new Fleet(
      (service, port) => serviceEnv(service, port, dbs[service], kafka.brokers),
      join(s.out, 'logs'),
      (m) => this.log(m),
      SHUTDOWN_TIMEOUT_MS + 5_000,
    );
    this.cleanups.push(() => fleet.stopAll());
    await Promise.all([
      fleet.add('order'),
      fleet.add('stock'),
      fleet.add('stock'),
      fleet.add('payment'),
      fleet.add('payment'),
    ]).catch((error: Error) => {
      throw new SetupError(error.message);
    });
    this.log(
      `services up: ${fleet
        .all()
        .map((i) => `${i.id} :${i.port}`)
        .join(', ')}`,
    );
    const catalog = makeCatalog(root.fork('catalog'));
    await this.seedCatalog(fleet, catalog);

    const topics = new ChaosKafka(kafka.brokers);
    await topics.connect();
    this.cleanups.push(() => topics.disconnect());
    const duplicator = new Duplicator(topics, [Topics.stockCommands, Topics.paymentCommands]);
    await duplicator.start();
    const orderUrl = () => fleet.url('order');
    const clients = new OrderClients(
      root.fork('clients'),
      s.clients,
      orderUrl,
      catalog,
      s.share,
      [300, 1_500],
      (a) => duplicator.decide(a.orderId, a.duplicate, a.duplicateDelayMs),
    );
    const kafkaBad = new KafkaBadInputs(topics, root.fork('kafka-bad-inputs'));
    const httpBad = new HttpBadInputs(root.fork('http-bad-inputs'), orderUrl, clients.stats);
    const cancels = new CancelBeforeTry(topics, root.fork('cancel-before-try'), catalog);

    fleet.startWatchdog();
    const start = Date.now();
    this.log('load and faults start');
    const load = clients.run(start + s.durationMs);
    const progress = setInterval(() => {
      const up = SERVICES.map((svc) => `${svc} ${fleet.live(svc).length}`).join(', ');
      this.log(
        `progress: ${clients.accepted.length} orders accepted; instances up: ${up}; ${duplicator.stats.published} duplicates`,
      );
    }, 10_000);
    const actions: Promise<void>[] = [];
    for (const event of plan) {
      const wait = start + event.at - Date.now();
      if (wait > 0) await sleep(wait);
      actions.push(
        this.fire(event, { fleet, kafka, pg, kafkaBad, httpBad, cancels, catalog }).catch((error: Error) => {
          this.faultErrors.push(`${describeEvent(event)}: ${error.message}`);
          this.log(`FAULT FAILED: ${describeEvent(event)}: ${error.message}`);
        }),
      );
    }
    await load;
    this.log(`load done: ${clients.accepted.length} orders accepted; waiting for the faults in progress`);
    await Promise.all(actions);
    clearInterval(progress);
    const chaosSeconds = Math.round((Date.now() - start) / 1_000);

    // quiet: every order final, no lag, empty outboxes (duplicates still coming are waited for)
    const quietStart = Date.now();
    const accepted = [...clients.accepted, ...httpBad.accepted];
    let quiet = await this.waitQuiet(topics, dbs, fleet, 240_000, () =>
      this.log('every order is final: stopping the duplicator'),
    );
    await duplicator.stop();
    if (quiet.reached) quiet = await this.waitQuiet(topics, dbs, fleet, 120_000);
    const waitedSeconds = Math.round((Date.now() - quietStart) / 1_000);
    this.log(`quiet ${quiet.reached ? 'reached' : 'NOT reached'} after ${waitedSeconds} s: ${quiet.detail}`);

    this.log('reading the dead-letter topics and the replies');
    const deadLetters = await topics.readAll(Object.keys(CONSUMED_TOPICS).map(deadLetterTopicOf));
    const replies = await topics.readAll([Topics.orderReplies]);
    const badInputs = [...kafkaBad.check(deadLetters), ...httpBad.results];
    const cancelResults = cancels.check(replies);
    const others = deadLetters.filter((d) => !kafkaBad.isMine(d));

    const acceptedFile = join(s.out, 'accepted.json');
    writeFileSync(
      acceptedFile,
      JSON.stringify(accepted.map(({ idempotencyKey, orderId }) => ({ idempotencyKey, orderId }))),
    );
    this.log('running the invariant checker');
    const invariants = await this.checkInvariants(dbs, kafka.brokers, acceptedFile);

    const rows = await query<{ status: string; reason: string | null; n: string }>(
      dbs.order,
      'SELECT status, reason, count(*) AS n FROM orders GROUP BY status, reason',
    );
    const count = (status: string) =>
      rows.filter((r) => r.status === status).reduce((a, r) => a + Number(r.n), 0);
    const reasons: Record<string, number> = {};
    for (const r of rows)
      if (r.status === 'CANCELLED')
        reasons[r.reason ?? 'none'] = (reasons[r.reason ?? 'none'] ?? 0) + Number(r.n);
    const fs = fleet.stats;
    const unjudged: Unjudged = {
      seed: s.seed,
      mode: s.short ? 'short' : 'full',
      repeat: this.repeatCommand(),
      startedAt: new Date(this.t0).toISOString(),
      wallSeconds: Math.round((Date.now() - this.t0) / 1_000),
      chaosSeconds,
      out: s.out,
      plan: plan.map(describeEvent),
      orders: {
        placed: accepted.length,
        confirmed: count('CONFIRMED'),
        cancelled: count('CANCELLED'),
        unfinished: rows
          .filter((r) => r.status !== 'CONFIRMED' && r.status !== 'CANCELLED')
          .reduce((a, r) => a + Number(r.n), 0),
        reasons,
        requests: clients.stats.requests,
        noAnswer: clients.stats.noAnswer,
        serverErrors: clients.stats.serverErrors,
        replayed: clients.stats.replayed,
        unexpectedAnswers: clients.stats.unexpected,
      },
      faults: {
        plannedKills: Object.fromEntries(
          SERVICES.map((svc) => [svc, plan.filter((e) => e.kind === 'kill' && e.service === svc).length]),
        ) as Record<ServiceName, number>,
        kills: fs.kills,
        restarts: fs.restarts,
        kafkaRestarts: this.kafkaRestarts,
        postgresRestarts: this.postgresRestarts,
        postgresRestartable: pg.restartable,
        instancesAdded: fs.added,
        instancesRemoved: fs.removed,
        unexpectedExits: fs.unexpectedExits,
        failedStarts: fs.failedStarts,
        shutdownHangs: fs.shutdownHangs,
        uncleanShutdowns: fs.uncleanShutdowns,
        errors: this.faultErrors,
      },
      duplicates: duplicator.stats,
      cancelBeforeTry: {
        sent: cancels.count,
        ok: cancelResults.filter((c) => c.ok).length,
        failed: cancelResults.filter((c) => !c.ok),
      },
      badInputs,
      otherDeadLetters: {
        count: others.length,
        examples: others
          .slice(0, 5)
          .map(
            (d) =>
              `${d.topic}/${d.partition}/${d.offset} ${d.headers['x-dlt-error-class']}: ${(d.headers['x-dlt-error-message'] ?? '').slice(0, 160)}`,
          ),
      },
      quiet: { reached: quiet.reached, waitedSeconds, detail: quiet.detail },
      invariants,
    };
    const failures = judge(unjudged);
    return { ...unjudged, failures, ok: failures.length === 0 };
  }

  private async fire(
    e: FaultEvent,
    ctx: {
      fleet: Fleet;
      kafka: OwnKafka;
      pg: Postgres;
      kafkaBad: KafkaBadInputs;
      httpBad: HttpBadInputs;
      cancels: CancelBeforeTry;
      catalog: Catalog;
    },
  ): Promise<void> {
    this.log(`fault: ${describeEvent(e)}`);
    switch (e.kind) {
      case 'kill': {
        const id = await ctx.fleet.kill(e.service, e.victim, e.downMs);
        if (!id) throw new Error(`no ${e.service} instance was up to kill`);
        return;
      }
      case 'kafka-restart':
        await ctx.kafka.restart(e.downMs);
        this.kafkaRestarts++;
        this.log('Kafka is back');
        return;
      case 'postgres-restart':
        if (!ctx.pg.restartable) {
          this.log('PostgreSQL restart skipped: the server was given with --postgres-url');
          return;
        }
        await ctx.pg.restart(e.downMs);
        this.postgresRestarts++;
        this.log('PostgreSQL is back');
        return;
      case 'add-instance':
        await ctx.fleet.scaleUp(e.service);
        return;
      case 'remove-instance': {
        const id = await ctx.fleet.scaleDown(e.service, e.victim);
        if (!id) throw new Error(`fewer than two ${e.service} instances up: none removed`);
        return;
      }
      case 'cancel-before-try':
        await ctx.cancels.send(e.count);
        this.log(`sent cancel then try for ${e.count} made-up orders`);
        return;
      case 'bad-input':
        if (e.input === 'invalid-body' || e.input === 'idempotency-key-reuse') {
          const customer = ctx.catalog.customers[0]?.id ?? '';
          const product = ctx.catalog.products[0]?.id ?? '';
          await ctx.httpBad.send(e.input, customer, product);
        } else await ctx.kafkaBad.send(e.input satisfies KafkaBadInput);
        this.log(`sent bad input ${e.input}`);
        return;
    }
  }

  private async waitQuiet(
    topics: ChaosKafka,
    dbs: Record<ServiceName, string>,
    fleet: Fleet,
    timeoutMs: number,
    onFinal?: () => void,
  ): Promise<{ reached: boolean; detail: string }> {
    const deadline = Date.now() + timeoutMs;
    let detail = '';
    let lastLog = 0;
    for (;;) {
      try {
        const [open] = await query<{ n: string }>(
          dbs.order,
          `SELECT count(*) AS n FROM orders WHERE status NOT IN ('CONFIRMED', 'CANCELLED')`,
        );
        const outbox: Record<string, number> = {};
        for (const svc of SERVICES)
          outbox[svc] = Number(
            (await query<{ n: string }>(dbs[svc], 'SELECT count(*) AS n FROM outbox'))[0]?.n ?? 0,
          );
        const groups = Object.fromEntries(
          Object.entries(CONSUMED_TOPICS).map(([topic, group]) => [group, topic]),
        );
        const lag = await topics.lag(groups);
        const openOrders = Number(open?.n ?? 0);
        const outboxRows = Object.values(outbox).reduce((a, b) => a + b, 0);
        const lagTotal = Object.values(lag).reduce((a, b) => a + b, 0);
        detail = `${openOrders} orders not final, outbox rows ${SERVICES.map((x) => `${x} ${outbox[x]}`).join('/')}, lag ${Object.entries(
          lag,
        )
          .map(([g, n]) => `${g} ${n}`)
          .join('/')}; every instance up: ${fleet.allUp()}`;
        if (openOrders === 0 && onFinal) {
          onFinal();
          return { reached: true, detail };
        }
        if (openOrders === 0 && outboxRows === 0 && lagTotal === 0 && fleet.allUp())
          return { reached: true, detail };
      } catch (error) {
        detail = `cannot read: ${(error as Error).message}`;
      }
      if (Date.now() > deadline) return { reached: false, detail };
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        this.log(`waiting for quiet: ${detail}`);
      }
      await sleep(1_000);
    }
  }

  private async checkInvariants(
    dbs: Record<ServiceName, string>,
    brokers: string,
    acceptedFile: string,
  ): Promise<ChaosSummary['invariants']> {
    const child = spawn(
      process.execPath,
      [
        join(workspaceRoot, 'apps', 'invariants', 'dist', 'main.js'),
        '--order-db',
        dbs.order,
        '--stock-db',
        dbs.stock,
        '--payment-db',
        dbs.payment,
        '--brokers',
        brokers,
        '--accepted',
        acceptedFile,
        '--wait-quiet',
        '60',
        '--json',
      ],
      { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    writeFileSync(join(this.s.out, 'invariants.json'), stdout);
    try {
      const report = JSON.parse(stdout) as { results: InvariantResult[] };
      return { exitCode: code, results: report.results };
    } catch {
      return { exitCode: code, results: [], output: `${stdout}\n${stderr}`.trim().slice(0, 4_000) };
    }
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
