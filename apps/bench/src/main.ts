import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { kafkaFloor, postgresFloor } from './floors';
import { runLoad } from './load';
import { parseOptions, USAGE, UsageError } from './options';
import { latencyPlot, markdown } from './report';
import type { BenchResult } from './report';
import { checkHealth, closeClients, createCatalog } from './services';
import { percentiles } from './stats';

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const o = parseOptions(argv, env);
    if (o === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    await checkHealth(o.urls);
    const pick = await createCatalog(o.urls, o.productCount, o.customerCount, o.signingKey);

    process.stderr.write('measuring the floors (Kafka round trip, PostgreSQL commit) ...\n');
    const postgres = await postgresFloor(o.orderDb);
    const floors = {
      kafkaRoundTripMs: percentiles(await kafkaFloor(o.brokers, o.kafkaSecurity)),
      postgresCommitMs: percentiles(postgres.samples),
    };

    const db = new Client({ connectionString: o.orderDb });
    await db.connect();
    let load;
    try {
      load = await runLoad(o, o.urls.order, o.metrics, db, pick);
    } finally {
      await db.end();
      closeClients();
    }

    const invariants = o.check
      ? await checkInvariants(env, o.brokers)
      : { exitCode: null, output: 'not run (--no-check)' };

    const under = load.steps
      .filter((s) => s.latencyMs.p99 < o.p99Limit && s.unfinished === 0)
      .map((s) => s.rate);
    const result: BenchResult = {
      startedAt: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        postgresAutovacuum: postgres.autovacuum,
      },
      floors,
      warmupS: o.warmupS,
      steps: load.steps,
      maxRssMb: load.maxRssMb,
      bestRateUnderP99Ms: { limitMs: o.p99Limit, rate: under.length > 0 ? Math.max(...under) : null },
      invariants,
    };
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(o.out, 'latency.svg'), latencyPlot(result));
    const report = markdown(result);
    writeFileSync(join(o.out, 'report.md'), report);
    process.stdout.write(`${report}\nwritten to ${o.out}/ (report.md, result.json, latency.svg)\n`);
    return invariants.exitCode === null || invariants.exitCode === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(
      `bench: ${(error as Error).message}${error instanceof UsageError ? `\n\n${USAGE}` : ''}\n`,
    );
    return error instanceof UsageError ? 2 : 1;
  }
}

async function checkInvariants(
  env: NodeJS.ProcessEnv,
  brokers: string[],
): Promise<BenchResult['invariants']> {
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
  return { exitCode: code, output };
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
