import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { counter } from '@tcc/observability';
import { OUTBOX_TABLE } from '@tcc/outbox';
import { PeriodicTask } from './periodic-task';

export const TABLE_MAINTENANCE_INTERVAL_MS = Symbol('TABLE_MAINTENANCE_INTERVAL_MS');

const runs = counter({
  name: 'tcc_table_maintenance_total',
  help: 'VACUUMs and ANALYZEs the service ran on its own tables because autovacuum would not',
  labelNames: ['table', 'action'],
});

/** What the statistics say of a table. */
export interface TableStats {
  table: string;
  /** rows at the last VACUUM or ANALYZE, -1 when never analyzed (taken as 0, as autovacuum does) */
  reltuples: number;
  /** rows now, by the statistics' count of inserts and deletes */
  liveRows: number;
  deadRows: number;
  modifiedSinceAnalyze: number;
  /** seconds since the table's last ANALYZE (this service's or autovacuum's), null if never */
  sinceAnalyzeS: number | null;
}

/** How long a table whose size holds keeps its statistics, however much its rows change. */
export const REANALYZE_AFTER_S = 600;

/**
 * What a table needs. VACUUM by autovacuum's rule (threshold 50 rows, scale 0.2). ANALYZE by its
 * rule too (50 rows, scale 0.1), but a table that has statistics gets new ones only when its size
 * moved by that much since the last VACUUM or ANALYZE, or after REANALYZE_AFTER_S. Every ANALYZE
 * makes every connection plan its statements on the table again, and the services' plans are
 * lookups by key that depend on a table's size, not on the values in it: products and wallets,
 * small tables whose rows all change every few seconds, were analyzed in every round (10 s), and
 * ANALYZEs of the saga's tables under load were followed by 300-600 ms of saga latency.
 */
export function maintenanceDue(t: TableStats): { vacuum: boolean; analyze: boolean } {
  const rows = Math.max(t.reltuples, 0);
  const changed = t.modifiedSinceAnalyze > 50 + 0.1 * rows;
  const resized = Math.abs(t.liveRows - rows) > 50 + 0.1 * rows;
  const stale = t.sinceAnalyzeS === null || t.sinceAnalyzeS >= REANALYZE_AFTER_S;
  return {
    vacuum: t.deadRows > 50 + 0.2 * rows,
    analyze: changed && (t.reltuples < 0 || resized || stale),
  };
}

/**
 * Does autovacuum's work on the service's own tables when the server's autovacuum will not (it is
 * off, or off for the table). Without it, the statistics stay those of the empty tables the
 * migrations made: the planner then takes sequential scans and hash joins for lookups by key, and
 * the prepared statements keep those plans (on this project's development machine, where
 * autovacuum is off, a reservation lookup read every reservation, 38 million rows in a benchmark
 * step). ANALYZE also invalidates the prepared plans, so they are made again from the new
 * statistics. Dead rows are vacuumed away for the same reason: updated orders and settled fences
 * leave them on every change. With autovacuum on, a round is one catalog query that finds nothing.
 * Several instances may run it at once: SKIP_LOCKED leaves a table another one is working on.
 * The outbox is left to the relay, which vacuums it after every so many deletes.
 */
@Injectable()
export class TableMaintenance implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger(TableMaintenance.name);
  private readonly task: PeriodicTask;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(TABLE_MAINTENANCE_INTERVAL_MS) intervalMs: number,
  ) {
    this.task = new PeriodicTask('table-maintenance', intervalMs, async () => {
      await this.round();
    });
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** One round: VACUUM and/or ANALYZE the tables that need it; returns what it ran. */
  async round(): Promise<string[]> {
    const tables = await this.db.query<TableStats[]>(
      `SELECT s.relname AS "table", c.reltuples::float8 AS reltuples, s.n_live_tup::float8 AS "liveRows",
              s.n_dead_tup::float8 AS "deadRows", s.n_mod_since_analyze::float8 AS "modifiedSinceAnalyze",
              extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8 AS "sinceAnalyzeS"
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE s.schemaname = current_schema() AND s.relname <> $1
          AND (current_setting('autovacuum') = 'off'
               OR coalesce(c.reloptions, '{}') @> '{autovacuum_enabled=false}'
               OR coalesce(c.reloptions, '{}') @> '{autovacuum_enabled=off}')`,
      [OUTBOX_TABLE],
    );
    const due = tables.map((t) => ({ t, ...maintenanceDue(t) })).filter((d) => d.vacuum || d.analyze);
    if (due.length === 0) return [];
    const ran: string[] = [];
    const session = this.db.createQueryRunner();
    try {
      await session.query(SESSION_SETTINGS.map(([name, value]) => `SET ${name} = ${value}`).join('; '));
      for (const { t, vacuum, analyze } of due) {
        const what = [vacuum && 'VACUUM', analyze && 'ANALYZE'].filter(Boolean).join(' ');
        const options = ['SKIP_LOCKED', ...(vacuum && analyze ? ['ANALYZE'] : [])].join(', ');
        const command = `${vacuum ? 'VACUUM' : 'ANALYZE'} (${options}) ${quoteIdent(t.table)}`;
        const started = Date.now();
        await session.query(command);
        if (vacuum) runs.inc({ table: t.table, action: 'vacuum' });
        if (analyze) runs.inc({ table: t.table, action: 'analyze' });
        this.log.debug({ msg: `${what} ${t.table}`, ms: Date.now() - started, ...t });
        ran.push(`${what} ${t.table}`);
      }
    } finally {
      // the session goes back to the pool: its statements must not run throttled or sampled thinly
      await session
        .query(SESSION_SETTINGS.map(([name]) => `RESET ${name}`).join('; '))
        .catch((error: unknown) => this.log.warn({ msg: 'cannot reset maintenance settings', err: error }));
      await session.release();
    }
    return ran;
  }
}

/** The statistics target of the service's own ANALYZEs (PostgreSQL's default is 100). */
export const STATISTICS_TARGET = 10;

/**
 * How the maintenance session runs, set before its commands and reset after them.
 * - `default_statistics_target`: ANALYZE samples 300 rows per unit of statistics target. At the
 *   default (100) each of the busy tables decoded and sorted 30 000 rows, 3% of the machine's CPU
 *   under the benchmark. The services' plans need sizes and the few values of their status
 *   columns, which a tenth of that sample gives.
 * - `vacuum_cost_delay`, `vacuum_cost_limit`: throttled as autovacuum is (its defaults, 2 ms per
 *   200 units of page work). A manual VACUUM runs unthrottled: on the orders table (four indexes,
 *   each scanned whole) that took PostgreSQL from a quarter to nearly half of the machine for two
 *   seconds, and the saga's p99 over those seconds from under 200 ms to over 600 ms.
 */
export const SESSION_SETTINGS: readonly (readonly [string, string])[] = [
  ['default_statistics_target', String(STATISTICS_TARGET)],
  ['vacuum_cost_delay', "'2ms'"],
  ['vacuum_cost_limit', '200'],
];

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
