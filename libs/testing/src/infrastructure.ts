import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { assertTestDatabaseUrl, withDatabase } from './database-urls';
import { workspaceRoot } from './service-process';

const run = promisify(execFile);

/** The test broker's ports differ from ./dev up's (9092), so tests never touch a running dev stack. */
export const NATIVE_TEST_KAFKA = { port: 19092, controllerPort: 19093 };
/** The test database on the project's own test cluster (./dev test's). */
const TEST_DATABASE = 'tcc_test';

export interface StartedInfrastructure {
  kafkaBrokers: string;
  testDatabaseUrl: string;
  /** how to stop what this run started itself (nothing for given or already running infrastructure) */
  stop: () => Promise<void>;
  describe: string[];
}

export function dockerEngineAvailable(): boolean {
  if (process.env['TESTCONTAINERS_DISABLED'] === 'true') return false;
  if (!process.env['DOCKER_HOST'] && !existsSync('/var/run/docker.sock')) return false;
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function nativeKafkaEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_PORT: String(NATIVE_TEST_KAFKA.port),
    KAFKA_CONTROLLER_PORT: String(NATIVE_TEST_KAFKA.controllerPort),
    KAFKA_STATE_DIR: join(process.env['TCC_CACHE_DIR'] ?? join(homedir(), '.cache', 'tcc-saga'), 'run-test'),
  };
}

const kafkaScript = join(workspaceRoot, 'infra', 'local', 'kafka.sh');

async function nativeKafkaRunning(): Promise<boolean> {
  try {
    await run(kafkaScript, ['status'], { env: nativeKafkaEnv() });
    return true;
  } catch {
    return false;
  }
}

/**
 * Kafka for tests, in this order: KAFKA_BROKERS if given; a testcontainers broker where a Docker
 * engine runs; otherwise a native broker from infra/local/kafka.sh (jars from Maven Central).
 */
async function startKafka(): Promise<{ brokers: string; stop: () => Promise<void>; how: string }> {
  const given = process.env['KAFKA_BROKERS'];
  if (given) return { brokers: given, stop: async () => undefined, how: `Kafka at ${given} (KAFKA_BROKERS)` };
  if (dockerEngineAvailable()) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    // @testcontainers/kafka drives Confluent's image; cp-kafka 7.9 is Apache Kafka 3.9 in KRaft mode
    const container = await new KafkaContainer('confluentinc/cp-kafka:7.9.1').withKraft().start();
    const brokers = `${container.getHost()}:${container.getMappedPort(9093)}`;
    return {
      brokers,
      stop: async () => void (await container.stop()),
      how: `Kafka in a testcontainer at ${brokers}`,
    };
  }
  const brokers = `127.0.0.1:${NATIVE_TEST_KAFKA.port}`;
  if (await nativeKafkaRunning())
    return { brokers, stop: async () => undefined, how: `native Kafka already running at ${brokers}` };
  await run(kafkaScript, ['start'], { env: nativeKafkaEnv(), maxBuffer: 10 * 1024 * 1024 });
  return {
    brokers,
    stop: async () => void (await run(kafkaScript, ['stop'], { env: nativeKafkaEnv() })),
    how: `native Kafka started at ${brokers}`,
  };
}

const postgresScript = join(workspaceRoot, 'infra', 'local', 'postgres.sh');

function testClusterEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PG_CLUSTER: 'test' };
}

async function postgresScriptRun(command: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(postgresScript, [command, ...args], { env: testClusterEnv() });
    return stdout.trim();
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`infra/local/postgres.sh ${command}: ${(e.stderr || e.message).trim()}`);
  }
}

/**
 * The project's own test cluster (infra/local/postgres.sh, PG_CLUSTER=test): the one ./dev test
 * started, or started here and stopped again at the end.
 */
async function testCluster(): Promise<{ url: string; stop: () => Promise<void>; how: string }> {
  const running = await postgresScriptRun('url', TEST_DATABASE).catch(() => undefined);
  if (running)
    return {
      url: running,
      stop: async () => undefined,
      how: `PostgreSQL test cluster already running (${running})`,
    };
  await postgresScriptRun('start');
  const url = await postgresScriptRun('url', TEST_DATABASE);
  return {
    url,
    stop: async () => void (await postgresScriptRun('stop')),
    how: `PostgreSQL test cluster started (${url})`,
  };
}

/**
 * PostgreSQL for tests: TEST_DATABASE_URL if given; a testcontainer where Docker runs; otherwise
 * the project's own test cluster. The URL must name a test database (it is created when missing);
 * each test file then creates its own database next to it.
 */
async function startPostgres(): Promise<{ url: string; stop: () => Promise<void>; how: string }> {
  const given = process.env['TEST_DATABASE_URL'];
  if (!given && dockerEngineAvailable()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15-alpine').withDatabase('tcc_test').start();
    return {
      url: container.getConnectionUri(),
      stop: async () => void (await container.stop()),
      how: 'PostgreSQL in a testcontainer',
    };
  }
  const cluster = given ? undefined : await testCluster();
  const url = given ?? cluster?.url ?? '';
  assertTestDatabaseUrl(url);
  const name = new URL(url).pathname.slice(1);
  const client = new Client({
    connectionString: withDatabase(url, 'postgres'),
    connectionTimeoutMillis: 5_000,
  });
  try {
    await client.connect();
  } catch (error) {
    await cluster?.stop().catch(() => undefined);
    throw new Error(`no PostgreSQL at ${withDatabase(url, 'postgres')} (${(error as Error).message})`);
  }
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return cluster ?? { url, stop: async () => undefined, how: `PostgreSQL at ${url} (TEST_DATABASE_URL)` };
}

export async function startTestInfrastructure(): Promise<StartedInfrastructure> {
  const [kafka, postgres] = await Promise.all([startKafka(), startPostgres()]);
  return {
    kafkaBrokers: kafka.brokers,
    testDatabaseUrl: postgres.url,
    describe: [kafka.how, postgres.how],
    stop: async () => {
      await Promise.all([kafka.stop(), postgres.stop()]);
    },
  };
}
