import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { dropServiceRole, provisionServiceDatabase } from '@tcc/database';
import { assertTestDatabaseUrl, TEST_DATABASE_PREFIX, withDatabase, withRole } from './database-urls';

export function testDatabaseAdminUrl(): string {
  const url = process.env['TEST_DATABASE_URL'];
  if (!url)
    throw new Error(
      'TEST_DATABASE_URL is not set: run the tests through their Nx targets (the global setup sets it)',
    );
  assertTestDatabaseUrl(url);
  return url;
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
  /** how the test (and a service under test) connects: as the administrator, or as the database's own role */
  url: string;
  /** the database's own role and its password, when it has one (`ownRole`) */
  role?: { name: string; password: string };
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /**
   * Give the database a login role of its own that owns it, made as ./dev db makes a service's
   * (provisionServiceDatabase), with a new random password; `url` then connects as that role.
   */
  ownRole?: boolean;
}

/** A fresh, empty database for one test file, so tests never see each other's rows. */
export async function createTestDatabase(
  label: string,
  options: TestDatabaseOptions = {},
): Promise<TestDatabase> {
  const name = `${TEST_DATABASE_PREFIX}_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const adminUrl = testDatabaseAdminUrl();
  if (!options.ownRole) {
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    return { name, url: withDatabase(adminUrl, name), drop: () => dropTestDatabase(name) };
  }
  // the role is named as its database: both are this test file's alone, and go together
  const role = { name, password: randomBytes(12).toString('hex') };
  await provisionServiceDatabase(adminUrl, { role: role.name, password: role.password, database: name });
  return {
    name,
    url: withRole(withDatabase(adminUrl, name), role.name, role.password),
    role,
    drop: async () => {
      await dropTestDatabase(name);
      await dropServiceRole(adminUrl, role.name);
    },
  };
}

export async function dropTestDatabase(name: string): Promise<void> {
  if (!name.startsWith(`${TEST_DATABASE_PREFIX}_`))
    throw new Error(`refusing to drop ${name}: not a test database`);
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
