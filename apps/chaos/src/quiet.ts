import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { CONSUMED_TOPICS } from './bad-inputs';
import type { Fleet } from './fleet';
import type { ChaosKafka, Duplicator } from './kafka';
import { SERVICES } from './plan';
import type { ServiceName } from './plan';
import type { Run, RunBase } from './run';

export interface Quiet {
  reached: boolean;
  waitedSeconds: number;
  detail: string;
}

export async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/**
 * Waits for quiet: every order final, no lag, empty outboxes, every instance up. The duplicator
 * stops once every order is final; the duplicates it still had coming are then waited for too.
 */
export async function reachQuiet(
  run: Run,
  topics: ChaosKafka,
  dbs: Record<ServiceName, string>,
  fleet: Fleet,
  duplicator: Duplicator,
): Promise<Quiet> {
  const quietStart = Date.now();
  let quiet = await waitQuiet(run, topics, dbs, fleet, 240_000, () =>
    run.log('every order is final: stopping the duplicator'),
  );
  await duplicator.stop();
  if (quiet.reached) quiet = await waitQuiet(run, topics, dbs, fleet, 120_000);
  const waitedSeconds = Math.round((Date.now() - quietStart) / 1_000);
  run.log(`quiet ${quiet.reached ? 'reached' : 'NOT reached'} after ${waitedSeconds} s: ${quiet.detail}`);
  return { ...quiet, waitedSeconds };
}

/**
 * Waits until every order is final (then calls `onFinal` and returns, when given), and else also
 * until the outboxes are empty, no group lags and every instance is up; or until the timeout.
 */
export async function waitQuiet(
  run: Run<RunBase>,
  topics: ChaosKafka,
  dbs: Record<ServiceName, string>,
  fleet: Fleet,
  timeoutMs: number,
  onFinal?: () => void,
): Promise<{ reached: boolean; detail: string }> {
  const deadline = Date.now() + timeoutMs;
  let detail = '';
  let lastLog = 0;
  for (;;) {
    try {
      const [open] = await query<{ n: string }>(
        dbs.order,
        `SELECT count(*) AS n FROM orders WHERE status NOT IN ('CONFIRMED', 'CANCELLED')`,
      );
      const outbox: Record<string, number> = {};
      for (const svc of SERVICES)
        outbox[svc] = Number(
          (await query<{ n: string }>(dbs[svc], 'SELECT count(*) AS n FROM outbox'))[0]?.n ?? 0,
        );
      const groups = Object.fromEntries(
        Object.entries(CONSUMED_TOPICS).map(([topic, group]) => [group, topic]),
      );
      const lag = await topics.lag(groups);
      const openOrders = Number(open?.n ?? 0);
      const outboxRows = Object.values(outbox).reduce((a, b) => a + b, 0);
      const lagTotal = Object.values(lag).reduce((a, b) => a + b, 0);
      detail = `${openOrders} orders not final, outbox rows ${SERVICES.map((x) => `${x} ${outbox[x]}`).join('/')}, lag ${Object.entries(
        lag,
      )
        .map(([g, n]) => `${g} ${n}`)
        .join('/')}; every instance up: ${fleet.allUp()}`;
      if (openOrders === 0 && onFinal) {
        onFinal();
        return { reached: true, detail };
      }
      if (openOrders === 0 && outboxRows === 0 && lagTotal === 0 && fleet.allUp())
        return { reached: true, detail };
    } catch (error) {
      detail = `cannot read: ${(error as Error).message}`;
    }
    if (Date.now() > deadline) return { reached: false, detail };
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      run.log(`waiting for quiet: ${detail}`);
    }
    await sleep(1_000);
  }
}
