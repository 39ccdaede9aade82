import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort, workspaceRoot } from '@tcc/testing';

const run = promisify(execFile);

async function sh(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run(file, args, { env, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`.trim());
  }
}

/**
 * What a run that starts its own Kafka and PostgreSQL needs of the caller's environment (the cache
 * of Kafka's jars, Java, PostgreSQL's binaries, where temporary files go), and nothing else.
 */
export function infraEnv(): Record<string, string> {
  return Object.fromEntries(
    ['HOME', 'TCC_CACHE_DIR', 'JAVA_HOME', 'PG_BIN', 'TMPDIR'].flatMap((k) => {
      const v = process.env[k];
      return v === undefined ? [] : [[k, v]];
    }),
  );
}

const KAFKA_USERS = ['admin', 'order', 'stock', 'payment'] as const;
export type KafkaUser = (typeof KAFKA_USERS)[number];

/**
 * Consecutive free loopback ports `count` long (kafka.sh gives node i of a cluster the base + i - 1),
 * none of them in `avoid`.
 */
async function freePortRun(count: number, avoid: readonly number[] = []): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const run = Array.from({ length: count }, (_, i) => base + i);
    if (run.some((p) => avoid.includes(p))) continue;
    if ((await Promise.all(run.map(portIsFree))).every(Boolean)) return base;
  }
  throw new Error(`found no ${count} consecutive free ports`);
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A run's cluster lives a few minutes, and its three JVMs spent most of their CPU compiling with
 * C2 in that time: with C1 only, p99 before the first fault was 0.2-1.0 s instead of 1.4-8.8 s
 * (docs/benchmark/2026-12-08-failover-kafka-jit.md). KAFKA_JVM_OPTS replaces it.
 */
const CLUSTER_JVM_OPTS = '-XX:TieredStopAtLevel=1';

/**
 * The run's own Kafka: infra/local/kafka.sh on free ports with a state dir of its own, one node or
 * a cluster (`nodes`: node i listens on port + i - 1), so restarting it disturbs no other broker on
 * the machine (./dev up's, the tests').
 */
export class OwnKafka {
  /** each user's KAFKA_SSL* and KAFKA_SASL_* variables (kafka.sh secure-env); none when not secured */
  readonly credentials: Record<KafkaUser, Record<string, string>> = {
    admin: {},
    order: {},
    stock: {},
    payment: {},
  };

  private constructor(
    readonly port: number,
    readonly nodes: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly stateDir: string,
  ) {}

  /** `secure`: SASL_SSL, SCRAM users and ACLs (kafka.sh start --secure; its restarts stay secured) */
  static async start(
    stateDir: string,
    options: { secure?: boolean; nodes?: number } = {},
  ): Promise<OwnKafka> {
    const nodes = options.nodes ?? 1;
    const port = await freePortRun(nodes);
    const controllerPort = await freePortRun(
      nodes,
      Array.from({ length: nodes }, (_, i) => port + i),
    );
    const env = {
      ...process.env,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_STATE_DIR: stateDir,
      KAFKA_HEAP_MAX: process.env['KAFKA_HEAP_MAX'] ?? '512m',
      KAFKA_JVM_OPTS: process.env['KAFKA_JVM_OPTS'] ?? (nodes > 1 ? CLUSTER_JVM_OPTS : ''),
    };
    const kafka = new OwnKafka(port, nodes, env, stateDir);
    if (!options.secure) {
      await kafka.script('start', ...(nodes > 1 ? ['--nodes', String(nodes)] : []));
      return kafka;
    }
    await kafka.script('start', '--secure');
    for (const user of KAFKA_USERS) {
      const lines = (await kafka.script('secure-env', user)).trim().split('\n');
      for (const line of lines) {
        const name = line.slice(0, line.indexOf('='));
        if (name !== 'KAFKA_BROKERS') kafka.credentials[user][name] = line.slice(name.length + 1);
      }
    }
    return kafka;
  }

  /** the bootstrap list: every node's host:port, comma-separated */
  get brokers(): string {
    return Array.from({ length: this.nodes }, (_, i) => `127.0.0.1:${this.port + i}`).join(',');
  }

  /** SIGKILL one node of the cluster (its node id, 1..nodes); returns once the process is gone */
  async kill(node: number): Promise<void> {
    await this.script('kill', '--node', String(node));
  }

  /** Starts one node of the cluster again and waits until it is ready. */
  async startNode(node: number): Promise<void> {
    await this.script('start', '--node', String(node));
  }

  private script(...args: string[]): Promise<string> {
    return sh(join(workspaceRoot, 'infra', 'local', 'kafka.sh'), args, this.env);
  }

  start(): Promise<string> {
    return this.script('start');
  }

  stop(): Promise<string> {
    return this.script('stop');
  }

  /** Stops the broker (SIGTERM, as kafka.sh does), keeps it down for downMs, starts it again. */
  async restart(downMs: number): Promise<void> {
    await this.stop();
    await sleep(downMs);
    await this.start();
  }

  /** Stops the broker and deletes its data, keeping its log in `keepLogIn`. */
  async destroy(keepLogIn?: string): Promise<void> {
    await this.stop().catch(() => undefined);
    const logs =
      this.nodes === 1
        ? [[join(this.stateDir, 'logs', 'server.log'), 'kafka-server.log']]
        : Array.from({ length: this.nodes }, (_, i) => [
            join(this.stateDir, `node-${i + 1}`, 'logs', 'server.log'),
            `kafka-${i + 1}-server.log`,
          ]);
    for (const [log, name] of logs)
      if (keepLogIn && log && name && existsSync(log)) copyFileSync(log, join(keepLogIn, name));
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export interface Postgres {
  /** a database on this server */
  url(database: string): string;
  /** false when the server is not ours to restart (--postgres-url) */
  readonly restartable: boolean;
  restart(downMs: number): Promise<void>;
  createDatabase(name: string): Promise<string>;
  destroy(keepLogIn?: string): Promise<void>;
}

/**
 * The chaos run's own PostgreSQL cluster: infra/local/postgres.sh with a state dir of its own on
 * a free port, kept on restarts, so restarting it disturbs no other server on the machine.
 * fsync is off: the run kills processes, never the machine, and a killed PostgreSQL loses
 * nothing the kernel already has.
 */
export class OwnPostgres implements Postgres {
  readonly restartable = true;

  private constructor(
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly stateDir: string,
  ) {}

  static async start(stateDir: string): Promise<OwnPostgres> {
    const port = await freePort();
    const env = {
      ...process.env,
      PG_CLUSTER: 'chaos',
      PG_STATE_DIR: stateDir,
      PG_PORT: String(port),
      PG_SETTINGS: 'fsync=off max_connections=300',
    };
    const pg = new OwnPostgres(port, env, stateDir);
    await pg.script('start');
    return pg;
  }

  private script(...args: string[]): Promise<string> {
    return sh(join(workspaceRoot, 'infra', 'local', 'postgres.sh'), args, this.env);
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async createDatabase(name: string): Promise<string> {
    const client = new Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Stops PostgreSQL the hard way (immediate: like a crash, recovery on start), waits, starts it. */
  async restart(downMs: number): Promise<void> {
    await this.script('stop', 'immediate');
    await sleep(downMs);
    await this.script('start');
  }

  /** Stops the server and deletes its cluster, keeping its log in `keepLogIn`. */
  async destroy(keepLogIn?: string): Promise<void> {
    await this.script('stop', 'immediate').catch(() => undefined);
    const log = join(this.stateDir, 'cluster', 'postgres.log');
    if (keepLogIn && existsSync(log)) copyFileSync(log, join(keepLogIn, 'postgres.log'));
    await this.script('reset').catch(() => rmSync(this.stateDir, { recursive: true, force: true }));
  }
}

/**
 * A PostgreSQL server that is not ours (--postgres-url): the run creates its databases there and
 * drops them at the end, and cannot restart it.
 */
export class GivenPostgres implements Postgres {
  readonly restartable = false;
  private readonly created: string[] = [];

  constructor(private readonly base: string) {}

  url(database: string): string {
    const u = new URL(this.base);
    u.pathname = `/${database}`;
    return u.toString();
  }

  async restart(): Promise<void> {
    throw new Error('cannot restart a PostgreSQL given with --postgres-url');
  }

  private async admin(sql: string): Promise<void> {
    const client = new Client({ connectionString: this.base });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  async createDatabase(name: string): Promise<string> {
    await this.admin(`CREATE DATABASE "${name}"`);
    this.created.push(name);
    return this.url(name);
  }

  async destroy(): Promise<void> {
    for (const name of this.created)
      await this.admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
  }
}
