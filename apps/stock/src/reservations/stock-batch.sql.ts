/*
 * The batch fast path's two statements, each with a fixed text (a prepared statement) whose
 * variable parts are array parameters. See StockTccService.handleBatch.
 */
import type { StockCommand } from '@tcc/contracts';
import { batchExpect } from '@tcc/database';
import type { SqlParams } from '@tcc/outbox';
import type { FenceRow } from './reservation.fence';
import type {
  BatchPlan,
  BatchStep,
  ProductRow,
  RejectStep,
  ReserveStep,
  SettleStep,
} from './stock-batch.plan';

export interface BatchReadRow {
  products: ProductRow[];
  fences: (FenceRow & { order_id: string; product_id: string })[];
}

/**
 * Reads, without locking, the products a run names and the reservations of its (order, product)
 * pairs: one row of two JSON arrays.
 */
export function batchReadSql(p: SqlParams, commands: readonly StockCommand[]): string {
  const orders = p.add(
    commands.map((c) => c.payload.orderId),
    'uuid[]',
  );
  const products = p.add(
    commands.map((c) => c.payload.productId),
    'text[]',
  );
  return `SELECT
    (SELECT coalesce(jsonb_agg(pr), '[]') FROM (
       SELECT id, price::text AS price, available, reserved FROM products WHERE id = ANY(${products})) pr
    ) AS products,
    (SELECT coalesce(jsonb_agg(fe), '[]') FROM (
       SELECT order_id, product_id, status, quantity, replies FROM reservations
        WHERE (order_id, product_id) IN (SELECT * FROM unnest(${orders}, ${products}))) fe
    ) AS fences`;
}

/**
 * Writes a planned prefix in one statement, in the lock order of the single paths: the fences of
 * the confirms and cancels (f), then the products in id order (locked, s), then the new
 * reservations of the tries (i); each reply is recorded in its fence (sent once this commits). PostgreSQL promises
 * no order among the parts of a WITH, so each part starts behind the one before it: an uncorrelated
 * count of the earlier part in its WHERE is a one-time filter, evaluated before the part reads a
 * row, and it also keeps a part from touching anything once the earlier one came up short.
 * `locked` takes the product rows in id order (FOR UPDATE locks rows as the sort hands them out),
 * as the sweeper does, and `s` changes only rows `locked` holds.
 *
 * Every part is guarded against a change since the read: a fence must still be RESERVED with the
 * quantity read and no reply to its phase (FenceReplies.transition's guard), a product must still
 * have the quantities read, a new reservation must not exist (primary key), an unknown product must
 * still be unknown. The final SELECT checks every count (batchExpect), so a batch that lost a race
 * fails whole (SQLSTATE 40001, or 23505 from the key) and writes nothing.
 */
export function batchWriteSql(p: SqlParams, plan: BatchPlan): string {
  const settles = plan.steps.filter((s): s is SettleStep => s.kind === 'settle');
  const tries = plan.steps.filter((s): s is ReserveStep | RejectStep => s.kind !== 'settle');
  /** one array parameter: `value` of each row */
  const column = <T>(rows: readonly T[], cast: string, value: (row: T) => unknown) =>
    p.add(rows.map(value), cast);
  const fences = {
    orders: column(settles, 'uuid[]', (s) => s.command.payload.orderId),
    products: column(settles, 'text[]', (s) => s.command.payload.productId),
    phases: column(settles, 'text[]', (s) => s.phase),
    statuses: column(settles, 'text[]', (s) => (s.phase === 'confirm' ? 'CONFIRMED' : 'CANCELLED')),
    quantities: column(settles, 'integer[]', (s) => s.quantity),
    replies: column(settles, 'jsonb[]', replyJson),
    count: p.add(settles.length, 'integer'),
  };
  const products = {
    ids: column(plan.products, 'text[]', (c) => c.id),
    readAvailable: column(plan.products, 'integer[]', (c) => c.read.available),
    readReserved: column(plan.products, 'integer[]', (c) => c.read.reserved),
    available: column(plan.products, 'integer[]', (c) => c.delta.available),
    reserved: column(plan.products, 'integer[]', (c) => c.delta.reserved),
    sold: column(plan.products, 'integer[]', (c) => c.delta.sold),
    count: p.add(plan.products.length, 'integer'),
    unknown: p.add(plan.unknownProducts, 'text[]'),
  };
  const reservations = {
    orders: column(tries, 'uuid[]', (s) => s.command.payload.orderId),
    products: column(tries, 'text[]', (s) => s.command.payload.productId),
    quantities: column(tries, 'integer[]', (s) => s.command.payload.quantity),
    prices: column(tries, 'bigint[]', (s) => (s.kind === 'reserve' ? s.price : null)),
    statuses: column(tries, 'text[]', (s) => (s.kind === 'reserve' ? 'RESERVED' : 'REJECTED')),
    reasons: column(tries, 'text[]', (s) => (s.kind === 'reject' ? s.reply.payload.reason : null)),
    expiries: column(tries, 'timestamptz[]', (s) =>
      s.kind === 'reserve' ? s.expiresAt.toISOString() : null,
    ),
    replies: column(tries, 'jsonb[]', replyJson),
    count: p.add(tries.length, 'integer'),
  };
  return `WITH f AS (
      UPDATE reservations r
         SET status = t.status, replies = r.replies || jsonb_build_object(t.phase, t.reply), updated_at = now()
        FROM unnest(${fences.orders}, ${fences.products}, ${fences.phases}, ${fences.statuses},
                    ${fences.quantities}, ${fences.replies}) AS t(order_id, product_id, phase, status, quantity, reply)
       WHERE r.order_id = t.order_id AND r.product_id = t.product_id AND r.status = 'RESERVED'
         AND r.quantity = t.quantity AND r.replies -> t.phase IS NULL
      RETURNING 1),
    locked AS MATERIALIZED (
      SELECT id FROM products
       WHERE id = ANY(${products.ids}) AND (SELECT count(*) FROM f) = ${fences.count}
       ORDER BY id FOR UPDATE),
    s AS (
      UPDATE products p
         SET available = p.available + d.available, reserved = p.reserved + d.reserved,
             sold = p.sold + d.sold, updated_at = now()
        FROM locked
        JOIN unnest(${products.ids}, ${products.readAvailable}, ${products.readReserved}, ${products.available},
                    ${products.reserved}, ${products.sold})
             AS d(id, read_available, read_reserved, available, reserved, sold) USING (id)
       WHERE p.id = locked.id AND p.available = d.read_available AND p.reserved = d.read_reserved
      RETURNING 1),
    i AS (
      INSERT INTO reservations (order_id, product_id, quantity, unit_price, status, reason, expires_at, replies)
      SELECT n.order_id, n.product_id, n.quantity, n.unit_price, n.status, n.reason, n.expires_at,
             jsonb_build_object('try', n.reply)
        FROM unnest(${reservations.orders}, ${reservations.products}, ${reservations.quantities},
                    ${reservations.prices}, ${reservations.statuses}, ${reservations.reasons},
                    ${reservations.expiries}, ${reservations.replies})
             AS n(order_id, product_id, quantity, unit_price, status, reason, expires_at, reply)
       WHERE (SELECT count(*) FROM s) = ${products.count}
      RETURNING 1)
    SELECT ${batchExpect(`(SELECT count(*) FROM f) = ${fences.count}`, 'a fence changed')},
           ${batchExpect(`(SELECT count(*) FROM s) = ${products.count}`, 'a product changed')},
           ${batchExpect(`(SELECT count(*) FROM i) = ${reservations.count}`, 'a reservation was not written')},
           ${batchExpect(`NOT EXISTS (SELECT 1 FROM products WHERE id = ANY(${products.unknown}))`, 'an unknown product appeared')}`;
}

function replyJson(step: BatchStep): string {
  return JSON.stringify(step.reply);
}
