import { z } from 'zod';
import { Client } from 'pg';
import { describeDatabaseError } from '@tcc/database';
import { connectionUrlOrExit, databaseConfigShape } from './run-migrations';
import { loadConfigOrExit } from './run-service';

/**
 * Body of `node apps/<service>/dist/seed.js`: loads demo rows for `./dev up`. Idempotent: rows
 * that exist are left as they are.
 */
export async function runSeed(
  service: string,
  statements: { sql: string; params: unknown[] }[],
): Promise<void> {
  const config = loadConfigOrExit(`${service} seed`, z.object(databaseConfigShape));
  const url = config.DATABASE_URL;
  const client = new Client({ connectionString: connectionUrlOrExit(`${service} seed`, config) });
  try {
    await client.connect();
    let inserted = 0;
    for (const { sql, params } of statements) inserted += (await client.query(sql, params)).rowCount ?? 0;
    process.stdout.write(`${service}: demo data loaded (${inserted} new row(s))\n`);
  } catch (error) {
    process.stderr.write(`${service} seed: ${describeDatabaseError(error, url)}\n`);
    process.exitCode = 1;
  } finally {
    await client.end();
  }
}
