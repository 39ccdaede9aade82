import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  customerToken,
  freePort,
  operatorToken,
  runScript,
  ServiceProcess,
  waitFor,
  withDatabase,
  withRole,
} from '@tcc/testing';
import type { ProcessResult, ServiceName, TestDatabase } from '@tcc/testing';
import { SERVICES, Stack } from './support/stack';

/** Any fixed string: whether a service accepts it or answers 401, it must never be logged. */
const TOKEN = `tcc-e2e-token-${randomBytes(16).toString('hex')}`;
/** the real tokens the requests carried */
const used: string[] = [];

/**
 * Each service as its own PostgreSQL role, and no secret in any log: the services run as
 * processes whose DATABASE_URL carries their role's password, take requests carrying a bearer
 * token, fail to start on a wrong database, and every line they and their commands wrote is
 * searched for the token and the passwords.
 */
describe('least privilege in PostgreSQL, and secrets kept out of the logs', () => {
  let stack: Stack;
  /** output of the processes started here besides the stack's: failed starts, migrations */
  const outputs: { label: string; result: ProcessResult }[] = [];

  beforeAll(async () => {
    stack = await Stack.start('secrets');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  function database(name: ServiceName): TestDatabase & { role: { name: string; password: string } } {
    const db = stack.databases.get(name);
    if (!db?.role) throw new Error(`${name} has no database role`);
    return { ...db, role: db.role };
  }

  it('migrates and runs every service as the role that owns its database', async () => {
    for (const name of SERVICES) {
      const { role } = database(name);
      const owners = await stack.query<{ owner: string }>(
        name,
        `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'`,
      );
      expect({ name, owners }).toEqual({ name, owners: [{ owner: role.name }] });
      const sessions = await stack.query<{ role: string }>(
        name,
        `SELECT DISTINCT usename AS role FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'tcc-%'`,
      );
      expect({ name, sessions }).toEqual({ name, sessions: [{ role: role.name }] });
    }
    const product = await stack.createProduct(3, 700);
    const customer = await stack.openWallet(5_000);
    const placed = await stack.placeOrder({
      customerId: customer,
      lines: [{ productId: product, quantity: 2 }],
    });
    expect(placed.status).toBe(202);
    expect(await stack.finalOrder(placed.body.id)).toMatchObject({ status: 'CONFIRMED', total: 1_400 });
  });

  it("refuses a service's role another service's database", async () => {
    const stock = database('stock');
    const intruder = new Client({
      connectionString: withRole(database('order').url, stock.role.name, stock.role.password),
    });
    await expect(intruder.connect()).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/^permission denied for database/),
    });
    await intruder.end().catch(() => undefined);
  });

  it('logs requests carrying credentials without the credentials', async () => {
    // real tokens, so every request is taken and answered as documented; and a made-up one in
    // the other credential headers
    const tokens = { order: await customerToken('c-secrets'), other: await operatorToken() };
    used.push(tokens.order, tokens.other);
    const credentials = (service: ServiceName) => ({
      authorization: `Bearer ${service === 'order' ? tokens.order : tokens.other}`,
      'proxy-authorization': `Bearer ${TOKEN}`,
      cookie: `session=${TOKEN}`,
    });
    const order = { customerId: 'c-secrets', lines: [{ productId: 'p-none', quantity: 1 }] };
    const probe = randomBytes(4).toString('hex');
    // each request's path is this test's own, so its log line is found
    const requests: [ServiceName, string, string, unknown, number][] = [
      ['order', 'POST', `/orders?probe=${probe}`, order, 202],
      ['order', 'POST', `/orders?probe=${probe}-malformed`, '{"not json', 400],
      ['order', 'GET', `/orders/${randomUUID()}`, undefined, 404],
      ['stock', 'POST', `/products?probe=${probe}`, { id: 'p-incomplete' }, 400],
      ['payment', 'GET', `/wallets/c-${probe}`, undefined, 404],
    ];
    for (const [service, method, path, body, status] of requests) {
      const answer = await stack.http(service, method, path, body, {
        ...credentials(service),
        'idempotency-key': randomUUID(),
      });
      expect({ path, status: answer.status }).toEqual({ path, status });
      // its "request completed" line, written within 50 ms: the search below looks at real lines
      await waitFor(() => stack.processes.get(service)?.stdout.includes(`"url":"${path}"`), {
        description: `${service} to log ${method} ${path}`,
      });
    }
  });

  it('names the database URL of a failed start with its password masked', async () => {
    const order = database('order');
    const missing = withDatabase(order.url, 'tcc_test_does_not_exist');
    const service = ServiceProcess.start('order', {
      ...stack.settings('order'),
      PORT: String(await freePort()),
      DATABASE_URL: missing,
    });
    const failed = await service.waitExit(60_000);
    outputs.push({ label: 'order start on a missing database', result: failed });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`order: cannot start: database in postgres://${order.role.name}:***@`);

    const migrate = await runScript('order', 'migrate', { DATABASE_URL: missing });
    outputs.push({ label: 'order migrate on a missing database', result: migrate });
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain(`postgres://${order.role.name}:***@`);

    const noDatabase = new URL(missing);
    noDatabase.pathname = '';
    const invalid = await runScript('order', 'migrate', { DATABASE_URL: noDatabase.toString() });
    outputs.push({ label: 'order migrate on a URL without a database', result: invalid });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/DATABASE_URL: must be a URL like .* \(got "postgres:\/\/[^:]+:\*\*\*@/);
  });

  it('leaves neither the token nor any password in any log or message', async () => {
    await Promise.all(SERVICES.map((name) => stack.stopService(name)));
    const secrets = [TOKEN, ...used, ...SERVICES.map((name) => database(name).role.password)];
    const texts = [
      ...SERVICES.map((name) => ({
        label: `${name} service`,
        text: `${stack.processes.get(name)?.stdout ?? ''}${stack.processes.get(name)?.stderr ?? ''}`,
      })),
      ...outputs.map(({ label, result }) => ({ label, text: `${result.stdout}${result.stderr}` })),
    ];
    expect(texts.every(({ text }) => text.length > 0)).toBe(true);
    const leaks = texts.flatMap(({ label, text }) =>
      secrets.filter((secret) => text.includes(secret)).map((secret) => `${label}: ${secret.slice(0, 6)}…`),
    );
    expect(leaks).toEqual([]);
  });
});
