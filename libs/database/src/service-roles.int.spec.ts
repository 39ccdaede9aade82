import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { postgresDataSourceOptions } from './postgres';
import { dropServiceRole, provisionServiceDatabase } from './service-roles';
import type { ServiceDatabase } from './service-roles';

/** What a service's first migration does: a table with a sequence, an index and a function. */
class FirstMigration1700000000000 implements MigrationInterface {
  name = 'FirstMigration1700000000000';
  async up(db: QueryRunner): Promise<void> {
    await db.query('CREATE TABLE orders (id bigserial PRIMARY KEY, status text NOT NULL)');
    await db.query(
      `CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders'`,
    );
  }
  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP FUNCTION order_count(); DROP TABLE orders');
  }
}

function adminUrl(database = 'postgres'): string {
  const url = process.env['TEST_DATABASE_URL'];
  if (!url) throw new Error('TEST_DATABASE_URL is not set (the global test setup sets it)');
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function urlAs(spec: ServiceDatabase, database = spec.database): string {
  const u = new URL(adminUrl(database));
  u.username = spec.role;
  u.password = spec.password;
  return u.toString();
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  return client;
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = await connect(url);
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** The roles ./dev db makes, on the tests' server: one per service, each owning its database alone. */
describe('service roles (real PostgreSQL)', () => {
  const run = randomBytes(4).toString('hex');
  const spec = (service: string): ServiceDatabase => ({
    role: `tcc_test_roles_${run}_${service}`,
    password: randomBytes(12).toString('hex'),
    database: `tcc_test_roles_${run}_${service}`,
  });
  const order = spec('order');
  const stock = spec('stock');
  const legacy = spec('legacy');

  beforeAll(async () => {
    await provisionServiceDatabase(adminUrl(), order);
    await provisionServiceDatabase(adminUrl(), stock);
  });

  afterAll(async () => {
    for (const s of [order, stock, legacy]) {
      await query(adminUrl(), `DROP DATABASE IF EXISTS "${s.database}" WITH (FORCE)`);
      await dropServiceRole(adminUrl(), s.role);
    }
  });

  it('makes login roles that may do nothing on the server beyond their own database', async () => {
    const roles = await query<Record<string, unknown>>(
      adminUrl(),
      `SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,
              rolpassword IS NOT NULL AS has_password
         FROM pg_authid WHERE rolname = ANY($1) ORDER BY rolname`,
      [[order.role, stock.role]],
    );
    const limited = { rolcanlogin: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false };
    expect(roles).toEqual([
      { rolname: order.role, ...limited, rolreplication: false, rolbypassrls: false, has_password: true },
      { rolname: stock.role, ...limited, rolreplication: false, rolbypassrls: false, has_password: true },
    ]);
    const owners = await query<{ owner: string }>(
      adminUrl(),
      'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
      [order.database],
    );
    expect(owners).toEqual([{ owner: order.role }]);
  });

  it("refuses a role another service's database: permission denied, not even a connection", async () => {
    await expect(query(urlAs(stock, order.database), 'SELECT 1')).rejects.toMatchObject({
      code: '42501',
      message: `permission denied for database "${order.database}"`,
    });
    // nor any database of the server's own, through PUBLIC's rights
    const rights = await query<{ connect: boolean }>(
      adminUrl(),
      `SELECT has_database_privilege($1, $2, 'CONNECT') AS connect`,
      [stock.role, order.database],
    );
    expect(rights).toEqual([{ connect: false }]);
  });

  it('refuses a role to create databases or roles', async () => {
    const client = await connect(urlAs(stock));
    try {
      await expect(client.query(`CREATE DATABASE "tcc_test_roles_${run}_intruder"`)).rejects.toMatchObject({
        code: '42501',
        message: 'permission denied to create database',
      });
      await expect(client.query(`CREATE ROLE tcc_test_roles_${run}_intruder`)).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await client.end();
    }
  });

  it('lets the owning role migrate its database and work in it', async () => {
    const db = new DataSource(
      postgresDataSourceOptions({
        url: urlAs(order),
        poolSize: 2,
        applicationName: 'roles-test',
        entities: [],
        migrations: [FirstMigration1700000000000],
      }),
    );
    await db.initialize();
    try {
      expect((await db.runMigrations()).map((m) => m.name)).toEqual(['FirstMigration1700000000000']);
      await db.query(`INSERT INTO orders (status) VALUES ('TRYING'), ('CONFIRMED')`);
      expect(await db.query('SELECT order_count() AS n')).toEqual([{ n: '2' }]);
      const owners = await db.query<{ owner: string }[]>(
        `SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname = 'public'`,
      );
      expect(owners).toEqual([{ owner: order.role }]);
    } finally {
      await db.destroy();
    }
  });

  it('is idempotent, and hands over what an administrator made in the database before', async () => {
    // a database as an older ./dev db left it: made and migrated by the administrator
    await query(adminUrl(), `CREATE DATABASE "${legacy.database}"`);
    await query(
      adminUrl(legacy.database),
      `CREATE TABLE products (id text PRIMARY KEY, n serial);
       CREATE FUNCTION tcc_expect(ok boolean) RETURNS boolean LANGUAGE sql AS 'SELECT ok'`,
    );
    await provisionServiceDatabase(adminUrl(), legacy);
    const again = { ...legacy, password: randomBytes(12).toString('hex') };
    await provisionServiceDatabase(adminUrl(), again);

    const owned = await query<{ kind: string; name: string; owner: string }>(
      adminUrl(legacy.database),
      `SELECT 'relation' AS kind, c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'S')
       UNION ALL
       SELECT 'function', p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
       ORDER BY 1, 2`,
    );
    expect(owned).toEqual([
      { kind: 'function', name: 'tcc_expect', owner: legacy.role },
      { kind: 'relation', name: 'products', owner: legacy.role },
      { kind: 'relation', name: 'products_n_seq', owner: legacy.role },
    ]);
    // an owner-only change, as a migration makes
    await query(urlAs(again), 'ALTER TABLE products ADD COLUMN name text');
    await expect(query(urlAs(again, order.database), 'SELECT 1')).rejects.toMatchObject({ code: '42501' });
  });
});
