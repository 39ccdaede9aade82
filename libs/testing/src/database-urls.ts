// Apart from test-database.ts: the Jest global setup needs these before any library is built,
// and test-database.ts loads @tcc/database, which runs from its build there.

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

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function withRole(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}
