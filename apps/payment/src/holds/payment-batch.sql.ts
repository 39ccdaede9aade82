/*
 * The batch fast path's two statements (PaymentTccService.handleBatch), each with a fixed text (a
 * prepared statement) whose rows travel as array parameters: ONE read of the run's wallets and
 * holds, ONE write of what payment-batch.plan.ts decided, guarded so that a batch whose reads went
 * stale writes nothing.
 */
import type { DataSource } from 'typeorm';
import type { PaymentCommand } from '@tcc/contracts';
import { batchExpect, preparedQuery } from '@tcc/database';
import { SqlParams } from '@tcc/outbox';
import type { FenceRow } from './hold.fence';
import { orderKey } from './payment-batch.plan';
import type { HoldBatchPlan, HoldBatchState } from './payment-batch.plan';

const READ_SQL = `SELECT
  (SELECT coalesce(json_agg(json_build_object('customerId', customer_id, 'balance', balance, 'held', held)), '[]')
     FROM wallets WHERE customer_id = ANY($1::text[])) AS wallets,
  (SELECT coalesce(json_agg(json_build_object('orderId', order_id, 'customer_id', customer_id, 'amount', amount,
                                              'status', status, 'replies', replies)), '[]')
     FROM holds WHERE order_id = ANY($2::uuid[])) AS holds`;

/** The wallets named by the commands and the holds of their orders, in one prepared statement. */
export async function readHoldBatch(
  db: DataSource,
  commands: readonly PaymentCommand[],
): Promise<HoldBatchState> {
  const customers = [...new Set(commands.map((c) => c.payload.customerId))];
  const orders = [...new Set(commands.map((c) => orderKey(c.payload.orderId)))];
  const [row] = await preparedQuery<
    {
      wallets: { customerId: string; balance: number; held: number }[];
      holds: (FenceRow & { orderId: string })[];
    }[]
  >(db, READ_SQL, [customers, orders]);
  return {
    wallets: new Map((row?.wallets ?? []).map((w) => [w.customerId, { balance: w.balance, held: w.held }])),
    holds: new Map((row?.holds ?? []).map((h) => [orderKey(h.orderId), h])),
  };
}

/** `unnest($1::uuid[], $2::text[], ...)` over parallel arrays, one column each. */
function unnest(p: SqlParams, columns: readonly [values: readonly unknown[], type: string][]): string {
  return `unnest(${columns.map(([values, type]) => p.add(values, `${type}[]`)).join(', ')})`;
}

/**
 * Writes a plan in ONE prepared statement (its text is the same for every batch: the rows travel
 * as arrays). Each part runs only once the part before it is complete (a scalar count over it),
 * which keeps the lock order of PaymentTccService: the holds to settle first, then the wallets in
 * customer order (as the sweeper takes them), then the keys of the new holds (as a single try
 * takes its wallet before it inserts its hold). Every guarded part is counted, and the final
 * SELECT fails the whole statement with a batch conflict (SQLSTATE 40001) if a count is short: a
 * hold settled or expired meanwhile, or a wallet changed since it was read (a top-up, the sweeper,
 * another instance). A new hold that exists meanwhile fails it with a unique violation.
 */
export async function writeHoldBatch(db: DataSource, plan: HoldBatchPlan): Promise<void> {
  const { settlements: s, wallets: w, newHolds: h } = plan;
  const p = new SqlParams();
  const settleCount = p.add(s.length, 'int');
  const walletCount = p.add(w.length, 'int');
  const holdCount = p.add(h.length, 'int');
  const settlements = unnest(p, [
    [s.map((x) => x.orderId), 'uuid'],
    [s.map((x) => x.customerId), 'text'],
    [s.map((x) => x.amount), 'bigint'],
    [s.map((x) => x.phase), 'text'],
    [s.map((x) => x.status), 'text'],
    [s.map((x) => JSON.stringify(x.reply)), 'jsonb'],
  ]);
  const wallets = unnest(p, [
    [w.map((x) => x.customerId), 'text'],
    [w.map((x) => x.readBalance), 'bigint'],
    [w.map((x) => x.readHeld), 'bigint'],
    [w.map((x) => x.balance), 'bigint'],
    [w.map((x) => x.held), 'bigint'],
    [w.map((x) => x.captured), 'bigint'],
  ]);
  const newHolds = unnest(p, [
    [h.map((x) => x.orderId), 'uuid'],
    [h.map((x) => x.customerId), 'text'],
    [h.map((x) => x.amount), 'bigint'],
    [h.map((x) => x.status), 'text'],
    [h.map((x) => x.reason), 'text'],
    [h.map((x) => x.expiresAt), 'timestamptz'],
    [h.map((x) => JSON.stringify({ try: x.reply })), 'jsonb'],
  ]);
  const allSettled = `(SELECT count(*) FROM settled) = ${settleCount}`;
  const allMoved = `(SELECT count(*) FROM moved) = ${walletCount}`;
  await preparedQuery<unknown[]>(
    db,
    `WITH settled AS (
       UPDATE holds h SET status = s.status, replies = h.replies || jsonb_build_object(s.phase, s.reply),
                          updated_at = now()
         FROM ${settlements} AS s(order_id, customer_id, amount, phase, status, reply)
        WHERE h.order_id = s.order_id AND h.customer_id = s.customer_id AND h.amount = s.amount
          AND h.status = 'HELD' AND h.replies -> s.phase IS NULL
       RETURNING h.order_id),
     locked AS MATERIALIZED (
       SELECT w.customer_id, d.balance, d.held, d.captured
         FROM wallets w JOIN ${wallets} AS d(customer_id, read_balance, read_held, balance, held, captured)
              ON w.customer_id = d.customer_id
        WHERE w.balance = d.read_balance AND w.held = d.read_held
          AND ${allSettled}
        ORDER BY w.customer_id COLLATE "C"
          FOR UPDATE OF w),
     moved AS (
       UPDATE wallets w SET balance = w.balance + l.balance, held = w.held + l.held,
                            captured = w.captured + l.captured, updated_at = now()
         FROM locked l WHERE w.customer_id = l.customer_id
       RETURNING w.customer_id),
     inserted AS (
       INSERT INTO holds (order_id, customer_id, amount, status, reason, expires_at, replies)
       SELECT * FROM ${newHolds} WHERE ${allMoved}
       RETURNING order_id)
     SELECT ${batchExpect(allSettled, 'a hold to settle is no longer HELD')},
            ${batchExpect(allMoved, 'a wallet changed since it was read')},
            ${batchExpect(`(SELECT count(*) FROM inserted) = ${holdCount}`, 'a new hold was not inserted')}`,
    p.values,
  );
}
