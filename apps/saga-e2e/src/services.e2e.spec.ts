import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { once } from 'node:events';
import { allTopics } from '@tcc/contracts';
import {
  createTestDatabase,
  freePort,
  runScript,
  ServiceProcess,
  testBrokers,
  testAuthEnv,
  testKafka,
  uniqueName,
} from '@tcc/testing';
import type { ServiceName, TestDatabase } from '@tcc/testing';

const services: ServiceName[] = ['order', 'stock', 'payment'];
const PARTITIONS = 6;

/** The environment a service gets in these tests: only what it is given, nothing inherited. */
async function serviceEnv(
  database: TestDatabase,
  port: number,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    PORT: String(port),
    METRICS_PORT: String(await freePort()),
    ...testAuthEnv,
    HOST: '127.0.0.1',
    DATABASE_URL: database.url,
    KAFKA_BROKERS: testBrokers().join(','),
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    KAFKA_GROUP_ID: uniqueName('group'),
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '20000',
    ...extra,
  };
}

describe('the three services, each as its own process against real Kafka and PostgreSQL', () => {
  const databases = new Map<ServiceName, TestDatabase>();
  const running: ServiceProcess[] = [];

  beforeAll(async () => {
    for (const name of services) {
      const database = await createTestDatabase(`e2e_${name}`, { ownRole: true });
      databases.set(name, database);
      const migrated = await runScript(name, 'migrate', { DATABASE_URL: database.url });
      expect({ name, code: migrated.code, stderr: migrated.stderr }).toEqual({ name, code: 0, stderr: '' });
      expect(migrated.stdout).toMatch(/applied \d+ migration/);
    }
  });

  afterAll(async () => {
    await Promise.all(running.filter((p) => p.running).map((p) => p.stop('SIGKILL')));
    for (const database of databases.values()) await database.drop();
  });

  function db(name: ServiceName): TestDatabase {
    const database = databases.get(name);
    if (!database) throw new Error(`no database for ${name}`);
    return database;
  }

  it('start, create the topics, and answer GET /health with database and Kafka up', async () => {
    const started = await Promise.all(
      services.map(async (name) => {
        const proc = ServiceProcess.start(name, await serviceEnv(db(name), await freePort()));
        running.push(proc);
        return proc;
      }),
    );
    for (const proc of started) {
      const health = await proc.waitHealthy();
      expect(health).toMatchObject({
        status: 'ok',
        details: { database: { status: 'up' }, kafka: { status: 'up' } },
      });
    }

    const admin = testKafka().admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [...allTopics] });
      expect(topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual(
        [...allTopics].map((t) => [t, PARTITIONS]).sort(),
      );
    } finally {
      await admin.disconnect();
    }

    // JSON logs, each line naming its service
    for (const proc of started) {
      const ready = proc.logs().find((l) => l['msg'] === `${proc.name} service ready`);
      expect(ready).toMatchObject({ service: proc.name, level: 'info' });
    }
  });

  it('stop gracefully on SIGTERM: the consumer leaves the group, then the process exits 0', async () => {
    const proc = ServiceProcess.start('stock', await serviceEnv(db('stock'), await freePort()));
    running.push(proc);
    await proc.waitHealthy();
    const result = await proc.stop('SIGTERM');
    expect(result.code).toBe(0);
    const messages = proc.logs().map((l) => l['msg']);
    expect(messages).toEqual(expect.arrayContaining(['shutting down', 'consumer stopped', 'stopped']));
    expect(messages.indexOf('consumer stopped')).toBeLessThan(messages.indexOf('stopped'));
  });

  it('refuse a missing or invalid configuration with a message naming each variable, and exit 1', async () => {
    const result = await runScript('payment', 'main', { PORT: 'abc', KAFKA_BROKERS: 'kafka' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      [
        'payment: Invalid configuration:',
        '  - PORT: must be a number (got "abc")',
        '  - DATABASE_URL is required but not set',
        '  - KAFKA_BROKERS: must be a comma-separated list of host:port, e.g. 127.0.0.1:9092 (got "kafka")',
        '',
      ].join('\n'),
    );
  });

  it('refuse to start with no way to check tokens, naming what to set, and exit 1', async () => {
    const env = await serviceEnv(db('order'), await freePort());
    delete env['AUTH_PUBLIC_KEY'];
    delete env['AUTH_ISSUER'];
    const result = await runScript('order', 'main', env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      [
        'order: Invalid configuration:',
        '  - no way to verify tokens: set AUTH_JWKS_URL (the identity provider’s key set) or AUTH_PUBLIC_KEY / AUTH_PUBLIC_KEY_FILE, or AUTH_DISABLED=true for development only',
        '  - AUTH_ISSUER is required: the `iss` every token must carry',
        '',
      ].join('\n'),
    );
  });

  it('with AUTH_DISABLED=true, start with a warning and let every request through as an operator', async () => {
    const env = await serviceEnv(db('stock'), await freePort(), { AUTH_DISABLED: 'true' });
    delete env['AUTH_PUBLIC_KEY'];
    const proc = ServiceProcess.start('stock', env);
    running.push(proc);
    await proc.waitHealthy();
    const warning = proc.logs().find((l) => String(l['msg']).startsWith('AUTH_DISABLED=true'));
    expect(warning?.['level']).toBe('warn');
    const id = uniqueName('p');
    const created = await fetch(`${proc.url}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, name: id, price: 1, quantity: 1 }),
    });
    expect(created.status).toBe(201);
    await proc.stop('SIGTERM');
  });

  it('serve /metrics on METRICS_PORT only, without a token; the API port has no /metrics', async () => {
    const env = await serviceEnv(db('payment'), await freePort());
    const proc = ServiceProcess.start('payment', env);
    running.push(proc);
    await proc.waitHealthy();
    const metrics = await fetch(`http://127.0.0.1:${env['METRICS_PORT']}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^process_cpu_seconds_total\{service="payment"\} /m);
    expect((await fetch(`http://127.0.0.1:${env['METRICS_PORT']}/wallets`)).status).toBe(404);
    expect((await fetch(`${proc.url}/metrics`)).status).toBe(404);
    await proc.stop('SIGTERM');
  });

  it('refuse a port already in use with a clear message, and exit 1', async () => {
    const port = await freePort();
    const blocker: Server = createServer().listen(port, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const proc = ServiceProcess.start('order', await serviceEnv(db('order'), port));
      running.push(proc);
      const result = await proc.waitExit(60_000);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`order: cannot start: port ${port} (PORT) on 127.0.0.1 is already in use\n`);
    } finally {
      blocker.close();
    }
  });

  it('refuse a database that does not exist with a clear message, and exit 1', async () => {
    const missing = { ...db('stock'), url: db('stock').url.replace(/\/[^/]+$/, '/tcc_test_does_not_exist') };
    const proc = ServiceProcess.start('stock', await serviceEnv(missing, await freePort()));
    running.push(proc);
    const result = await proc.waitExit(60_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^stock: cannot start: database in postgres:\/\/.*\/tcc_test_does_not_exist does not exist/,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('refuse an unreachable Kafka with a clear message, and exit 1', async () => {
    const nobody = await freePort();
    const proc = ServiceProcess.start(
      'payment',
      await serviceEnv(db('payment'), await freePort(), { KAFKA_BROKERS: `127.0.0.1:${nobody}` }),
    );
    running.push(proc);
    const result = await proc.waitExit(120_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^payment: cannot start: cannot reach Kafka at 127\\.0\\.0\\.1:${nobody} \\(KAFKA_BROKERS\\)`,
      ),
    );
  });
});
