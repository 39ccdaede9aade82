import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { QueryFailedError } from 'typeorm';
import { connectionUrl } from './connection';
import { encodeArrays } from './pg-array';
import type { DataSource, DataSourceOptions, MixedList, EntitySchema } from 'typeorm';

export interface PostgresOptions {
  /** DATABASE_URL: the service's own role and database; TLS settings as its parameters */
  url: string;
  /** DATABASE_SSL_CA_FILE: the CA that signed the server's certificate, when the URL names none */
  sslCaFile?: string;
  poolSize: number;
  /** shows in pg_stat_activity, so an operator sees which service holds a connection */
  applicationName: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/**
 * TypeORM options for a service's own database. Never `synchronize`: the schema changes only
 * through migrations, run by each service's `migrate` command.
 */
export function postgresDataSourceOptions(options: PostgresOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: connectionUrl(options.url, options.sslCaFile),
    applicationName: options.applicationName,
    entities: options.entities,
    migrations: options.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: ['error', 'warn', 'migration'],
    extra: {
      max: options.poolSize,
      connectionTimeoutMillis: 5_000,
      // keep connections open: pg-pool closes one idle for 10 s by default, and the next burst
      // then pays a new backend (a fork, authentication, cold caches) and plans every prepared
      // statement again; under the benchmark that churned the stock pool every few seconds
      idleTimeoutMillis: 0,
      // a statement stuck on a lock must not hold a partition forever
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 60_000,
      // the hot statements are prepared, and their lookups take keys as arrays; left to choose, the
      // planner kept planning them anew on every execution (its estimate for an array of unknown
      // length makes the generic plan look dear), 15-30% of the services' PostgreSQL CPU. The
      // generic plan is made again whenever ANALYZE (autovacuum's) changes a table's statistics.
      // A generic plan guesses 10 rows for an array key, and at the default random_page_cost (4,
      // a spinning disk's) ten index probes looked dearer than reading a 600-row table whole: the
      // stock batch statements scanned products sequentially three times each. The services' data
      // is in memory, so a random page costs about what a sequential one does
      options: '-c plan_cache_mode=force_generic_plan -c random_page_cost=1.1',
    },
  };
}

/**
 * For a transaction that polls a partial index of due rows (deadlines, expiries): its rows leave
 * the index all the time, and a bitmap scan re-reads every dead entry on every poll until a vacuum
 * (it cannot mark them dead as a plain index scan does). Measured on the order service's deadline
 * index with autovacuum off: 53 000 entries read per poll, 11 ms, against 0.2 ms with an index scan.
 */
export const PLAIN_INDEX_SCANS = 'SET LOCAL enable_bitmapscan = off';

const preparedNames = new Map<string, string>();
const MAX_PREPARED = 500;

/**
 * Runs one statement outside any transaction as a named prepared statement: PostgreSQL parses and
 * plans it once per connection instead of on every call. For the hot, fixed-text statements of
 * the saga (their variable parts travel as array parameters); anything else uses `db.query`.
 */
export async function preparedQuery<T>(db: DataSource, text: string, values: unknown[]): Promise<T> {
  let name = preparedNames.get(text);
  if (!name && preparedNames.size < MAX_PREPARED) {
    name = `tcc_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    preparedNames.set(text, name);
  }
  if (!name) return db.query<T>(text, values);
  const pool = (db.driver as unknown as { master: Pool }).master;
  try {
    const result = await pool.query({ name, text, values: encodeArrays(values) });
    return result.rows as T;
  } catch (error) {
    // the same error as db.query gives (a QueryFailedError keeping pg's code, detail, ...), so the
    // dead-letter headers and retry rules do not depend on which path ran the statement
    throw error instanceof Error && !(error instanceof QueryFailedError)
      ? new QueryFailedError(text, values, error)
      : error;
  }
}

/** PostgreSQL's unique_violation: a row with that key exists already. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === '23505';
}

/** Runs a statement that inserts a uniquely keyed row; undefined (nothing written) if the row existed. */
export async function unlessExists<T>(statement: () => Promise<T>): Promise<T | undefined> {
  try {
    return await statement();
  } catch (error) {
    if (isUniqueViolation(error)) return undefined;
    throw error;
  }
}
