import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { postgresDataSourceOptions } from '@tcc/database';
import { migratedTestDatabase } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { STATISTICS_TARGET, TableMaintenance } from './table-maintenance';

describe('TableMaintenance against a real database', () => {
  let database: MigratedDatabase;
  let maintenance: TableMaintenance;

  beforeEach(async () => {
    database = await migratedTestDatabase('table_maintenance', [], []);
    // off for this table whatever the server's setting, as on a server with autovacuum off
    await database.db.query(
      `CREATE TABLE fences (order_id uuid, product_id text, status text,
                            PRIMARY KEY (order_id, product_id)) WITH (autovacuum_enabled = false)`,
    );
    maintenance = new TableMaintenance(database.db, 600_000);
  });

  afterEach(() => database.drop());

  async function flushStats(): Promise<void> {
    // the counters of other sessions reach the shared statistics within a second or so
    await database.db.query('SELECT pg_stat_force_next_flush()');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  }

  it('analyzes a table it finds filled since, so a prepared lookup stops scanning the whole table', async () => {
    const url = (database.db.options as { url: string }).url;
    const client = new Client({ connectionString: url, options: '-c plan_cache_mode=force_generic_plan' });
    await client.connect();
    try {
      // planned while the table is empty, as a service's statements are right after the migrations
      await client.query(`PREPARE lookup(uuid[], text[]) AS
        SELECT status FROM fences WHERE (order_id, product_id) IN (SELECT * FROM unnest($1, $2))`);
      const plan = async () =>
        (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE lookup('{}', '{}')`)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      expect(await plan()).toMatch(/Seq Scan on fences/);

      await database.db.query(
        `INSERT INTO fences SELECT gen_random_uuid(), 'p' || (n % 100), 'RESERVED' FROM generate_series(1, 20000) n`,
      );
      await flushStats();
      expect(await maintenance.round()).toEqual(['ANALYZE fences']);

      expect(await plan()).not.toMatch(/Seq Scan on fences/);
      expect(await plan()).toMatch(/Index (Only )?Scan using fences_pkey/);
      // the statistics come from its smaller sample: a histogram of STATISTICS_TARGET buckets
      const [stats] = await database.db.query<{ bounds: number }[]>(
        `SELECT array_length(histogram_bounds::text::text[], 1) AS bounds
           FROM pg_stats WHERE tablename = 'fences' AND attname = 'order_id'`,
      );
      expect(stats?.bounds).toBe(STATISTICS_TARGET + 1);
      // nothing more to do until the table changes again
      expect(await maintenance.round()).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('vacuums a table whose dead rows passed the threshold, and analyzes it again only when its size moved', async () => {
    await database.db.query(
      `INSERT INTO fences SELECT gen_random_uuid(), 'p', 'RESERVED' FROM generate_series(1, 1000) n`,
    );
    await flushStats();
    expect(await maintenance.round()).toEqual(['ANALYZE fences']);

    // every row changed, the size did not: its statistics stay (an ANALYZE would replan every statement)
    await database.db.query(`UPDATE fences SET status = 'CONFIRMED'`);
    await flushStats();
    expect(await maintenance.round()).toEqual(['VACUUM fences']);
    const [stats] = await database.db.query<{ vacuums: string; dead: string; analyzes: string }[]>(
      `SELECT vacuum_count AS vacuums, n_dead_tup AS dead, analyze_count AS analyzes
         FROM pg_stat_user_tables WHERE relname = 'fences'`,
    );
    expect(stats).toEqual({ vacuums: '1', dead: '0', analyzes: '1' });

    // half as many rows again: vacuumed and analyzed in one command
    await database.db.query(
      `INSERT INTO fences SELECT gen_random_uuid(), 'p', 'RESERVED' FROM generate_series(1, 500) n`,
    );
    await database.db.query(`UPDATE fences SET status = 'SOLD'`);
    await flushStats();
    expect(await maintenance.round()).toEqual(['VACUUM ANALYZE fences']);
  });

  it('vacuums throttled as autovacuum does, and hands its connection back to the pool as it was', async () => {
    const url = (database.db.options as { url: string }).url;
    // one pooled connection: the maintenance session and the checks afterwards are the same backend
    const pool = new DataSource(
      postgresDataSourceOptions({
        url,
        poolSize: 1,
        applicationName: 'maintenance-test',
        entities: [],
        migrations: [],
      }),
    );
    await pool.initialize();
    try {
      const settings = async () =>
        (
          await pool.query<Record<string, string>[]>(
            `SELECT current_setting('vacuum_cost_delay') AS delay, current_setting('vacuum_cost_limit') AS "limit",
                    current_setting('default_statistics_target') AS target`,
          )
        )[0];
      const before = await settings();
      expect(before?.delay).toBe('0');

      // what the maintenance session sees while it works: the settings at each of its statements
      const seen: { statement: string; delay: string | undefined; target: string | undefined }[] = [];
      const createQueryRunner = pool.createQueryRunner.bind(pool);
      jest.spyOn(pool, 'createQueryRunner').mockImplementation(() => {
        const runner = createQueryRunner();
        const query = runner.query.bind(runner);
        runner.query = (async (statement: string, ...rest: unknown[]) => {
          const result: unknown = await (query as (...a: unknown[]) => Promise<unknown>)(statement, ...rest);
          const [now] = (await query(
            `SELECT current_setting('vacuum_cost_delay') AS delay, current_setting('default_statistics_target') AS target`,
          )) as { delay: string; target: string }[];
          seen.push({ statement, delay: now?.delay, target: now?.target });
          return result;
        }) as typeof runner.query;
        return runner;
      });

      await database.db.query(
        `INSERT INTO fences SELECT gen_random_uuid(), 'p', 'RESERVED' FROM generate_series(1, 1000) n`,
      );
      await database.db.query(`UPDATE fences SET status = 'CONFIRMED'`);
      await flushStats();
      const maintained = new TableMaintenance(pool, 600_000);
      expect(await maintained.round()).toEqual(['VACUUM ANALYZE fences']);

      const vacuum = seen.find((s) => s.statement.startsWith('VACUUM'));
      expect(vacuum).toEqual({
        statement: 'VACUUM (SKIP_LOCKED, ANALYZE) "fences"',
        delay: '2ms',
        target: String(STATISTICS_TARGET),
      });
      // back in the pool, the connection runs the service's statements unthrottled again
      expect(await settings()).toEqual(before);
    } finally {
      await pool.destroy();
    }
  });

  it('leaves the outbox to the relay, which vacuums it itself', async () => {
    await database.db.query(`CREATE TABLE outbox (id bigint PRIMARY KEY) WITH (autovacuum_enabled = false)`);
    await database.db.query(`INSERT INTO outbox SELECT generate_series(1, 1000)`);
    await database.db.query(`DELETE FROM outbox`);
    await flushStats();
    expect(await maintenance.round()).toEqual([]);
  });

  it('leaves tables alone when autovacuum looks after them', async () => {
    await database.db.query(`ALTER TABLE fences RESET (autovacuum_enabled)`);
    const [{ autovacuum } = { autovacuum: '' }] = await database.db.query<{ autovacuum: string }[]>(
      `SELECT current_setting('autovacuum') AS autovacuum`,
    );
    await database.db.query(
      `INSERT INTO fences SELECT gen_random_uuid(), 'p', 'RESERVED' FROM generate_series(1, 1000) n`,
    );
    await flushStats();
    // on a server with autovacuum off every table is the service's to look after
    expect(await maintenance.round()).toEqual(autovacuum === 'on' ? [] : ['ANALYZE fences']);
  });
});
