import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { assertTestDatabaseUrl, withDatabase } from './test-database';
import { workspaceRoot } from './service-process';

const run = promisify(execFile);

/** The test broker's ports differ from ./dev up's (9092), so tests never touch a running dev stack. */
export const NATIVE_TEST_KAFKA = { port: 19092, controllerPort: 19093 };
const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/tcc_test';

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

/**
 * PostgreSQL for tests: TEST_DATABASE_URL if given; a testcontainer where Docker runs; otherwise
 * the local server. The URL must name a test database (it is created when missing); each test
 * file then creates its own database next to it.
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
  const url = given ?? DEFAULT_TEST_DATABASE_URL;
  assertTestDatabaseUrl(url);
  const name = new URL(url).pathname.slice(1);
  const client = new Client({
    connectionString: withDatabase(url, 'postgres'),
    connectionTimeoutMillis: 5_000,
  });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `no PostgreSQL at ${withDatabase(url, 'postgres')} (${(error as Error).message}). Install PostgreSQL 15+ (Debian: apt-get install postgresql) or set TEST_DATABASE_URL.`,
    );
  }
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return { url, stop: async () => undefined, how: `PostgreSQL at ${url}` };
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
