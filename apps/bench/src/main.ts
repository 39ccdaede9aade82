import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { Client } from 'pg';
import { cpuPerOrder, cpuSnapshot, metricValue } from './cpu';
import { KeepAliveClient } from './http-client';
import type { JsonResponse } from './http-client';
import type { CpuMs } from './cpu';
import { latencyPlot, markdown } from './report';
import type { BenchResult, StepResult } from './report';
import { dueAt, percentiles } from './stats';

const USAGE = `Usage: ./dev bench [options]      (against a running stack: ./dev up)

Open-loop load on POST /orders at each rate in turn; measures orders reaching a final state per
second and the latency from POST to final state, the CPU each order cost (per service, the load
generator, and the rest of the machine), the Kafka and PostgreSQL floors, and the services'
memory; runs the invariant checker afterwards. Writes result.json, report.md and
latency.svg into --out.

  --rates LIST        orders per second, one step each (default 50,100,200,300)
  --duration SEC      seconds per step (default 60)
  --warmup SEC        load at the first rate before measuring, not reported (default 15; 0: none):
                      a just-started stack runs cold (JIT, connections, prepared plans)
  --p99-limit MS      report the highest rate whose p99 stays under this (default 500)
  --products N        products the orders spread over (default 200)
  --customers N       customers (wallets) the orders spread over (default 2000)
  --order-url, --stock-url, --payment-url   (default http://127.0.0.1:3000, :3001, :3002)
  --order-db URL      to see when orders finish (default tcc_order on POSTGRES_URL, which
                      ./dev bench sets to the PostgreSQL ./dev up started)
  --brokers LIST      for the Kafka floor (default KAFKA_BROKERS, else 127.0.0.1:9092)
  --out DIR           (default bench-results/<time>)
  --no-check          skip the invariant checker`;

const options = {
  rates: { type: 'string', default: '50,100,200,300' },
  duration: { type: 'string', default: '60' },
  warmup: { type: 'string', default: '15' },
  'p99-limit': { type: 'string', default: '500' },
  products: { type: 'string', default: '200' },
  customers: { type: 'string', default: '2000' },
  'order-url': { type: 'string', default: 'http://127.0.0.1:3000' },
  'stock-url': { type: 'string', default: 'http://127.0.0.1:3001' },
  'payment-url': { type: 'string', default: 'http://127.0.0.1:3002' },
  'order-db': { type: 'string' },
  brokers: { type: 'string' },
  out: { type: 'string' },
  'no-check': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

class UsageError extends Error {}

/** tcc_order on POSTGRES_URL's server. */
function orderDatabase(env: NodeJS.ProcessEnv): string {
  const server = env['POSTGRES_URL'];
  if (!server)
    throw new UsageError(
      "no order database: give --order-db or POSTGRES_URL (./dev bench sets it while ./dev up's PostgreSQL runs)",
    );
  const u = new URL(server);
  u.pathname = '/tcc_order';
  return u.toString();
}

function positive(name: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new UsageError(`--${name} takes a whole number >= 1 (got "${value}")`);
  return Number(value);
}

/** One kept-alive client per service (see KeepAliveClient: node:http cost twice the CPU per request). */
const clients = new Map<string, KeepAliveClient>();

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const { origin, pathname, search } = new URL(url);
  let client = clients.get(origin);
  if (!client) clients.set(origin, (client = new KeepAliveClient(origin)));
  return client.post(`${pathname}${search}`, body, headers);
}

class ProgressBar {
  private readonly tty = Boolean(process.stderr.isTTY);
  private last = 0;
  update(label: string, done: number, total: number, extra: string): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 200 : 5_000) && done < total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((done / Math.max(1, total)) * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${extra}`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }
  end(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

async function kafkaFloor(brokers: string[]): Promise<number[]> {
  const kafka = new Kafka({ clientId: 'tcc-bench', brokers, logLevel: logLevel.NOTHING });
  const topic = `bench.floor.${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${topic}.reader`, maxWaitTimeInMs: 100 });
  const arrived = new Map<string, () => void>();
  const samples: number[] = [];
  try {
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => arrived.get(message.value?.toString() ?? '')?.(),
    });
    for (let i = 0; i < 230; i++) {
      const id = String(i);
      const got = new Promise<void>((r) => arrived.set(id, r));
      const t0 = performance.now();
      await producer.send({ topic, acks: -1, messages: [{ value: id }] });
      await got;
      if (i >= 30) samples.push(performance.now() - t0); // the first ones include the group join
    }
  } finally {
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  return samples;
}

/** One-row commits on a real (logged) table, so each waits for its WAL flush like a saga step. */
async function postgresFloor(url: string): Promise<{ samples: number[]; autovacuum: string }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const samples: number[] = [];
  const table = `bench_floor_${randomBytes(4).toString('hex')}`;
  try {
    const { rows } = await client.query<{ autovacuum: string }>('SHOW autovacuum');
    await client.query(`CREATE TABLE ${table} (id int)`);
    for (let i = 0; i < 220; i++) {
      const t0 = performance.now();
      await client.query(`INSERT INTO ${table} VALUES ($1)`, [i]);
      if (i >= 20) samples.push(performance.now() - t0);
    }
    return { samples, autovacuum: rows[0]?.autovacuum ?? 'unknown' };
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}

interface Sent {
  key: string;
  sentAt: number;
  orderId?: string;
  finalAt?: number;
  status?: string;
}

/**
 * One step: sends `rate` orders a second for `durationS` seconds (open loop), then follows them to
 * their final state. `sending` settles when the last order of the step has been sent, so the next
 * step can start at once: the load never pauses between steps (a pause would let every queue and
 * batch run empty, and the next step would measure the climb back from idle rather than the rate
 * sustained). `result` settles once every order of the step is final (or given up).
 */
function runStep(
  rate: number,
  durationS: number,
  urls: Record<string, string> & { order: string },
  db: Client,
  pick: () => { customerId: string; productId: string },
): { sending: Promise<void>; result: Promise<StepResult> } {
  const total = rate * durationS;
  const sent: Sent[] = [];
  const inFlight: Promise<void>[] = [];
  const bar = new ProgressBar();
  let rejected = 0;
  let start = Date.now();
  let polling = true;
  const pending = new Map<string, Sent>();
  const cpuBefore = cpuSnapshot(urls);
  let cpuAfter: Promise<CpuMs> | undefined;
  const poller = (async () => {
    while (polling || pending.size > 0) {
      const ids = [...pending.keys()].slice(0, 5_000);
      if (ids.length > 0) {
        const rows = await db.query<{ id: string; status: string; t: string }>(
          `SELECT id, status, (extract(epoch from updated_at) * 1000)::float8 AS t FROM orders
            WHERE id = ANY($1::uuid[]) AND status IN ('CONFIRMED', 'CANCELLED')`,
          [ids],
        );
        for (const r of rows.rows) {
          const s = pending.get(r.id);
          if (s) {
            s.finalAt = Number(r.t);
            s.status = r.status;
            pending.delete(r.id);
          }
        }
      }
      const finals = sent.filter((s) => s.finalAt !== undefined).length;
      bar.update(
        `${rate}/s`,
        Math.min(sent.length, total),
        total,
        `sent, ${finals} final, ${pending.size} in flight`,
      );
      if (!polling && Date.now() - start > durationS * 1_000 + 60_000) break; // give up on stragglers
      // latency comes from updated_at, not from when this sees it: a slow poll loses no precision,
      // and a fast one over thousands of pending ids would load the database it measures
      await sleep(500);
    }
  })();
  const sending = (async () => {
    await cpuBefore;
    start = Date.now();
    for (let i = 0; i < total; i++) {
      const wait = dueAt(start, rate, i) - Date.now();
      if (wait > 0) await sleep(wait);
      const s: Sent = { key: randomUUID(), sentAt: Date.now() };
      sent.push(s);
      const { customerId, productId } = pick();
      const place = () =>
        post(
          `${urls.order}/orders`,
          { customerId, lines: [{ productId, quantity: 1 }] },
          { 'idempotency-key': s.key },
        );
      inFlight.push(
        // a kept-alive socket the server closed just then fails the request (ECONNRESET): sent
        // again under the same idempotency key, it places the order at most once
        place()
          .catch(place)
          .then((res) => {
            const id = (res.body as { id?: string } | undefined)?.id;
            if (res.status === 202 && id) {
              s.orderId = id;
              pending.set(id, s);
            } else rejected++;
          })
          .catch(() => void rejected++),
      );
    }
    // the CPU of the step's window, the orders of the step: at a steady rate, the orders still in
    // flight at its end cost what those of the step before cost at its start
    cpuAfter = cpuSnapshot(urls);
  })();
  const result = (async (): Promise<StepResult> => {
    await sending;
    await Promise.all(inFlight);
    polling = false;
    await poller;
    bar.end();
    const finals = sent.filter((s) => s.finalAt !== undefined);
    const accepted = sent.filter((s) => s.orderId).length;
    const cpuMsPerOrder = cpuPerOrder(await cpuBefore, await (cpuAfter ?? cpuSnapshot(urls)), accepted);
    const latencies = finals.map((s) => Math.max(0, (s.finalAt ?? 0) - s.sentAt));
    const lastFinal = finals.reduce((last, s) => Math.max(last, s.finalAt ?? 0), start + durationS * 1_000);
    return {
      rate,
      startedAt: new Date(start).toISOString(),
      durationS,
      sent: sent.length,
      accepted,
      rejected,
      final: finals.length,
      confirmed: finals.filter((s) => s.status === 'CONFIRMED').length,
      cancelled: finals.filter((s) => s.status === 'CANCELLED').length,
      unfinished: sent.filter((s) => s.orderId && s.finalAt === undefined).length,
      finalPerSecond: finals.length / ((lastFinal - start) / 1_000),
      latencyMs: percentiles(latencies),
      cpuMsPerOrder,
      // (the next step is already sending: nothing here may hold the event loop for long)
      timeline: finals.map((s, i) => [
        Math.round((s.sentAt - start) / 10) / 100,
        Math.round(latencies[i] ?? 0),
      ]),
    };
  })();
  return { sending, result };
}

async function sampleRss(urls: Record<string, string>, ...into: Record<string, number>[]): Promise<void> {
  for (const [name, url] of Object.entries(urls)) {
    try {
      const text = await (await fetch(`${url}/metrics`)).text();
      const mb = Math.round((metricValue(text, 'process_resident_memory_bytes') ?? 0) / 1_048_576);
      for (const record of into) record[name] = Math.max(record[name] ?? 0, mb);
    } catch {
      // a scrape that fails is simply not counted
    }
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    let v;
    try {
      v = parseArgs({ args: argv, options, strict: true }).values;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (v.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const rates = v.rates.split(',').map((r) => positive('rates', r.trim()));
    const durationS = positive('duration', v.duration);
    const warmupS = v.warmup === '0' ? 0 : positive('warmup', v.warmup);
    const p99Limit = positive('p99-limit', v['p99-limit']);
    const productCount = positive('products', v.products);
    const customerCount = positive('customers', v.customers);
    const orderDb = v['order-db'] ?? orderDatabase(env);
    const brokers = (v.brokers ?? env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
    const out = resolve(v.out ?? join('bench-results', new Date().toISOString().replace(/[:.]/g, '-')));
    const urls = { order: v['order-url'], stock: v['stock-url'], payment: v['payment-url'] };

    for (const [name, url] of Object.entries(urls)) {
      const health = await fetch(`${url}/health`).catch(() => undefined);
      if (health?.status !== 200)
        throw new Error(`${name} does not answer healthy at ${url}/health: start the stack (./dev up)`);
    }

    // catalog and wallets big enough that no order fails for want of stock or points
    const run = randomBytes(3).toString('hex');
    const products = Array.from({ length: productCount }, (_, i) => `bench-${run}-p${i}`);
    const customers = Array.from({ length: customerCount }, (_, i) => `bench-${run}-c${i}`);
    process.stderr.write(`setting up ${products.length} products and ${customers.length} wallets ...\n`);
    for (const id of products) {
      const r = await post(`${urls.stock}/products`, { id, name: id, price: 100, quantity: 1_000_000_000 });
      if (r.status !== 201)
        throw new Error(`cannot create product ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (let i = 0; i < customers.length; i += 50) {
      await Promise.all(
        customers.slice(i, i + 50).map(async (customerId) => {
          const r = await post(`${urls.payment}/wallets`, { customerId, balance: 1_000_000_000_000 });
          if (r.status !== 201)
            throw new Error(`cannot open wallet ${customerId}: ${r.status} ${JSON.stringify(r.body)}`);
        }),
      );
    }
    let n = 0;
    const pick = () => {
      n++;
      return {
        customerId: customers[n % customers.length] ?? '',
        productId: products[(n * 7) % products.length] ?? '',
      };
    };

    process.stderr.write('measuring the floors (Kafka round trip, PostgreSQL commit) ...\n');
    const postgres = await postgresFloor(orderDb);
    const floors = {
      kafkaRoundTripMs: percentiles(await kafkaFloor(brokers)),
      postgresCommitMs: percentiles(postgres.samples),
    };

    const db = new Client({ connectionString: orderDb });
    await db.connect();
    const maxRssMb: Record<string, number> = {};
    let stepRssMb: Record<string, number> = {};
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sampleRss(urls, maxRssMb, stepRssMb);
        await sleep(1_000);
      }
    })();
    const steps: StepResult[] = [];
    try {
      // each step starts as the one before it has sent its last order (see runStep)
      let warmup: Promise<unknown> = Promise.resolve();
      if (warmupS > 0 && rates[0] !== undefined) {
        process.stderr.write(`warming up: ${warmupS} s at ${rates[0]}/s, not reported ...\n`);
        const run = runStep(rates[0], warmupS, urls, db, pick);
        await run.sending;
        warmup = run.result;
      }
      const running: Promise<StepResult>[] = [];
      for (const rate of rates) {
        const rss: Record<string, number> = {};
        stepRssMb = rss;
        const run = runStep(rate, durationS, urls, db, pick);
        await run.sending;
        running.push(run.result.then((step) => ({ ...step, maxRssMb: rss })));
      }
      await warmup;
      steps.push(...(await Promise.all(running)));
    } finally {
      sampling = false;
      await sampler;
      await db.end();
      for (const client of clients.values()) client.close();
    }

    let invariants: BenchResult['invariants'] = { exitCode: null, output: 'not run (--no-check)' };
    if (!v['no-check']) {
      process.stderr.write('running the invariant checker ...\n');
      const child = spawn(
        process.execPath,
        [join(__dirname, '..', '..', 'invariants', 'dist', 'main.js'), '--wait-quiet', '120'],
        {
          env: { ...env, KAFKA_BROKERS: brokers.join(',') },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      invariants = { exitCode: code, output };
    }

    const under = steps.filter((s) => s.latencyMs.p99 < p99Limit && s.unfinished === 0).map((s) => s.rate);
    const result: BenchResult = {
      startedAt: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        postgresAutovacuum: postgres.autovacuum,
      },
      floors,
      warmupS,
      steps,
      maxRssMb,
      bestRateUnderP99Ms: { limitMs: p99Limit, rate: under.length > 0 ? Math.max(...under) : null },
      invariants,
    };
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(out, 'latency.svg'), latencyPlot(result));
    const report = markdown(result);
    writeFileSync(join(out, 'report.md'), report);
    process.stdout.write(`${report}\nwritten to ${out}/ (report.md, result.json, latency.svg)\n`);
    return invariants.exitCode === null || invariants.exitCode === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(
      `bench: ${(error as Error).message}${error instanceof UsageError ? `\n\n${USAGE}` : ''}\n`,
    );
    return error instanceof UsageError ? 2 : 1;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
