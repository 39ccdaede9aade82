import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const TEST_DATABASE_PREFIX = 'tcc_test';

/** Refuses any database whose name does not say it is a test database. */
export function assertTestDatabaseUrl(url: string): void {
  const name = new URL(url).pathname.replace(/^\//, '');
  if (!name.includes('test')) {
    throw new Error(
      `refusing to run tests against database "${name}" (${url}): TEST_DATABASE_URL must name a test database, e.g. postgres://postgres@127.0.0.1:15433/${TEST_DATABASE_PREFIX} (./dev test sets it)`,
    );
  }
}

export function testDatabaseAdminUrl(): string {
  const url = process.env['TEST_DATABASE_URL'];
  if (!url)
    throw new Error(
      'TEST_DATABASE_URL is not set: run the tests through their Nx targets (the global setup sets it)',
    );
  assertTestDatabaseUrl(url);
  return url;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testDatabaseAdminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database for one test file, so tests never see each other's rows. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `${TEST_DATABASE_PREFIX}_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    url: withDatabase(testDatabaseAdminUrl(), name),
    drop: () => dropTestDatabase(name),
  };
}

export async function dropTestDatabase(name: string): Promise<void> {
  if (!name.startsWith(`${TEST_DATABASE_PREFIX}_`))
    throw new Error(`refusing to drop ${name}: not a test database`);
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
