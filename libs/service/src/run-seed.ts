import { z } from 'zod';
import { Client } from 'pg';
import { ConfigError, env, loadConfig } from '@tcc/config';
import { describeDatabaseError } from '@tcc/database';

/**
 * Body of `node apps/<service>/dist/seed.js`: loads demo rows for `./dev up`. Idempotent: rows
 * that exist are left as they are.
 */
export async function runSeed(
  service: string,
  statements: { sql: string; params: unknown[] }[],
): Promise<void> {
  let url: string;
  try {
    url = loadConfig(z.object({ DATABASE_URL: env.postgresUrl() })).DATABASE_URL;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${service} seed: ${error.message}\n`);
    process.exit(1);
  }
  const client = new Client({ connectionString: url });
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
