/*
 * The text and parameters of every statement the order service runs, built with one parameter
 * helper (SqlParams: `p.add(value, cast)` answers its `$n`). Each write is ONE statement: the
 * order, its lines, its timeline and its commands (outbox), so an order is never stored without
 * its commands. Variable parts travel as array parameters, so each statement's text is fixed and
 * is prepared once per connection.
 */
import type { SagaMessage } from '@tcc/contracts';
import { batchExpect } from '@tcc/database';
import { NOTIFY_OUTBOX, outboxIdsOf, outboxInsert, SqlParams } from '@tcc/outbox';
import { RESENDING_STATUSES } from '../saga/order-saga';
import type { Retry, SagaState, TimelineEntry } from '../saga/order-saga';

export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * Who sends the commands a statement writes to the outbox: with `relayAfterMs`, this service, as
 * soon as the statement has committed, the relay only once they are that old (the statement then
 * returns the rows' ids); without it, the relay, woken by the statement's NOTIFY.
 */
export interface Sending {
  relayAfterMs?: number;
}

/** One new order as the placing statement writes it. */
export interface NewOrder {
  idempotencyKey: string;
  requestHash: string;
  deadline: Date;
  holdUntil: Date;
  traceId: string | null;
  /** the saga's first step: the order as it starts, and its first timeline entry */
  start: { state: SagaState; timeline: readonly TimelineEntry[] };
  /** the first commands, their ids fixed */
  messages: readonly SagaMessage[];
  /** their outbox headers: the placing request's span as their parent */
  headers: Record<string, string>;
}

/** One saga step as a statement writes it. */
export interface OrderChange {
  /** the version the step read the order at: the write applies only if it is still that */
  before: { version: number };
  /** the order after the step: its state and the ids of the replies applied to it */
  next: { state: SagaState; applied: readonly string[] };
  timeline: readonly TimelineEntry[];
  messages: readonly SagaMessage[];
  retry: Retry;
  /** the id of the reply the step applied; none for a deadline or a retry */
  appliedId: string | null;
}

const LINES_OF_O = `(SELECT json_agg(l ORDER BY l.line_no) FROM order_lines l WHERE l.order_id = o.id) AS lines`;

/** The statuses whose confirms/cancels are re-sent, as SQL literals (the retry index's predicate). */
const RESENDING_SQL = RESENDING_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * Places orders: each order, its lines, its timeline and its first commands, all or nothing per
 * order. An order whose idempotency key its customer used already is not written (nor its lines or
 * commands). Returns the orders written, with lines and timeline (ViewRow).
 */
export function placeOrders(orders: readonly NewOrder[], sending: Sending): Statement {
  const p = new SqlParams();
  const states = orders.map((o) => o.start.state);
  const lines = states.flatMap((s) => s.lines.map((l, i) => ({ orderId: s.orderId, n: i + 1, ...l })));
  const commands = orders.flatMap((o) => o.messages.map((m) => ({ m, order: o })));
  const order = arrays(p, [
    [states.map((s) => s.orderId), 'uuid[]'],
    [states.map((s) => s.customerId), 'text[]'],
    [states.map((s) => s.status), 'text[]'],
    [orders.map((o) => o.idempotencyKey), 'text[]'],
    [orders.map((o) => o.requestHash), 'text[]'],
    [orders.map((o) => o.deadline), 'timestamptz[]'],
    [orders.map((o) => o.holdUntil), 'timestamptz[]'],
    [states.map((s) => s.payment), 'text[]'],
    [orders.map((o) => o.traceId), 'text[]'],
  ]);
  const line = arrays(p, [
    [lines.map((x) => x.orderId), 'uuid[]'],
    [lines.map((x) => x.n), 'int[]'],
    [lines.map((x) => x.productId), 'text[]'],
    [lines.map((x) => x.quantity), 'int[]'],
    [lines.map((x) => x.state), 'text[]'],
  ]);
  const outbox = outboxInsert(
    p,
    commands.map((c) => c.m),
    {
      headersEach: commands.map((c) => c.order.headers),
      joinEach: { part: 'o', column: 'id', values: commands.map((c) => c.m.correlationId), cast: 'uuid' },
      ...sending,
    },
  );
  const timeline = timelineInsert(
    p,
    orders.map((o) => ({ orderId: o.start.state.orderId, timeline: o.start.timeline })),
    'o',
  );
  const text = `WITH v AS (
       SELECT * FROM unnest(${order}) WITH ORDINALITY
           AS v(id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until, payment_state,
                trace_id, n)),
     o AS (
       INSERT INTO orders (id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until,
                           payment_state, trace_id)
       SELECT id, customer_id, status, idempotency_key, request_hash, deadline_at, hold_until, payment_state, trace_id
         FROM v ORDER BY v.n
       ON CONFLICT (customer_id, idempotency_key) DO NOTHING RETURNING *),
     l AS (
       INSERT INTO order_lines (order_id, line_no, product_id, quantity, state)
       SELECT x.order_id, x.line_no, x.product_id, x.quantity, x.state
         FROM unnest(${line}) AS x(order_id, line_no, product_id, quantity, state)
         JOIN o ON o.id = x.order_id
       RETURNING *),
     t AS (${timeline} RETURNING *),
     ob AS (${outbox})
     SELECT o.*, (SELECT json_agg(l ORDER BY l.line_no) FROM l WHERE l.order_id = o.id) AS lines,
            (SELECT ${timelineOf('t')} FROM t WHERE t.order_id = o.id) AS timeline${outboxColumn(sending)}
       FROM o`;
  return { text, values: p.values };
}

/**
 * Writes one step: the order (only if still at the version the step read) with the reply's message
 * id added to its applied ones (so it is never applied twice), its lines, the timeline and the
 * commands. Every part but the order's own update is added once per row that update returns, so a
 * lost race writes nothing and returns no row.
 */
export function writeStep(change: OrderChange, sending: Sending): Statement {
  const { state } = change.next;
  const { retry, appliedId, messages } = change;
  const p = new SqlParams();
  const keep = retry === 'keep';
  const parts = [
    `o AS (
       UPDATE orders SET status = ${p.add(state.status)}, reason = ${p.add(state.reason)},
              reason_detail = ${p.add(state.reasonDetail)}, total = ${p.add(state.total, 'bigint')},
              payment_state = ${p.add(state.payment)},
              next_retry_at = ${keep ? 'next_retry_at' : p.add(retry.at, 'timestamptz')},
              retry_count = ${keep ? 'retry_count' : p.add(retry.count, 'integer')},
              applied = ${appliedId ? `array_append(applied, ${p.add(appliedId, 'uuid')})` : 'applied'},
              version = version + 1, updated_at = now()
        WHERE id = ${p.add(state.orderId)} AND version = ${p.add(change.before.version, 'integer')}
        RETURNING id)`,
    `l AS (
       UPDATE order_lines ol SET state = v.state, unit_price = v.unit_price
         FROM o, unnest(${arrays(p, [
           [state.lines.map((l) => l.productId), 'text[]'],
           [state.lines.map((l) => l.state), 'text[]'],
           [state.lines.map((l) => l.unitPrice), 'bigint[]'],
         ])}) AS v(product_id, state, unit_price)
        WHERE ol.order_id = o.id AND ol.product_id = v.product_id)`,
    `t AS (${timelineInsert(p, [{ orderId: state.orderId, timeline: change.timeline }], 'o')})`,
  ];
  if (messages.length > 0) parts.push(`ob AS (${outboxInsert(p, messages, { onlyIf: 'o', ...sending })})`);
  const columns = messages.length === 0 ? '' : outboxColumn(sending);
  return { text: `WITH ${parts.join(',\n')} SELECT o.id${columns} FROM o`, values: p.values };
}

/**
 * Writes the steps of several replies (in reply order) in one statement: every order changed once,
 * to its last state, guarded by the version its first step read, with all the steps' lines,
 * timeline entries, reply ids and commands (`headersEach`: each command's headers). If any order
 * moved since it was read, the statement fails whole (tcc_expect, isBatchConflict).
 */
export function writeSteps(
  steps: readonly OrderChange[],
  headersEach: readonly Record<string, string>[],
  sending: Sending,
): Statement {
  const orders = new Map<string, { from: number; last: OrderChange; retry: Retry; count: number }>();
  for (const step of steps) {
    const id = step.next.state.orderId;
    const seen = orders.get(id);
    // a step that keeps the re-send keeps the one an earlier step of the run set
    const retry = step.retry === 'keep' ? (seen?.retry ?? 'keep') : step.retry;
    orders.set(id, {
      from: seen?.from ?? step.before.version,
      last: step,
      retry,
      count: (seen?.count ?? 0) + 1,
    });
  }
  const changed = [...orders.values()];
  const states = changed.map((o) => o.last.next.state);
  const lines = states.flatMap((s) => s.lines.map((l) => ({ orderId: s.orderId, ...l })));
  const messages = steps.flatMap((s) => s.messages);
  const p = new SqlParams();
  const order = arrays(p, [
    [states.map((s) => s.orderId), 'uuid[]'],
    [changed.map((o) => o.from), 'int[]'],
    [changed.map((o) => o.count), 'int[]'],
    [states.map((s) => s.status), 'text[]'],
    [states.map((s) => s.reason), 'text[]'],
    [states.map((s) => s.reasonDetail), 'text[]'],
    [states.map((s) => s.total), 'bigint[]'],
    [states.map((s) => s.payment), 'text[]'],
    [changed.map((o) => o.retry === 'keep'), 'boolean[]'],
    [changed.map((o) => (o.retry === 'keep' ? null : o.retry.at)), 'timestamptz[]'],
    [changed.map((o) => (o.retry === 'keep' ? 0 : o.retry.count)), 'int[]'],
    // every order's applied reply ids, whole (its version guards them): one array literal each
    [changed.map((o) => `{${o.last.next.applied.join(',')}}`), 'text[]'],
  ]);
  const line = arrays(p, [
    [lines.map((x) => x.orderId), 'uuid[]'],
    [lines.map((x) => x.productId), 'text[]'],
    [lines.map((x) => x.state), 'text[]'],
    [lines.map((x) => x.unitPrice), 'bigint[]'],
  ]);
  const outbox = outboxInsert(p, messages, { headersEach, ...sending });
  const expected = p.add(changed.length, 'bigint');
  const timeline = timelineInsert(
    p,
    steps.map((s) => ({ orderId: s.next.state.orderId, timeline: s.timeline })),
  );
  const text = `WITH v AS (
       SELECT * FROM unnest(${order})
           AS v(id, version, steps, status, reason, reason_detail, total, payment_state, keep_retry, next_retry_at,
                retry_count, applied)),
     o AS (
       UPDATE orders SET status = v.status, reason = v.reason, reason_detail = v.reason_detail, total = v.total,
              payment_state = v.payment_state,
              next_retry_at = CASE WHEN v.keep_retry THEN orders.next_retry_at ELSE v.next_retry_at END,
              retry_count = CASE WHEN v.keep_retry THEN orders.retry_count ELSE v.retry_count END,
              version = orders.version + v.steps, applied = v.applied::uuid[], updated_at = now()
         FROM v WHERE orders.id = v.id AND orders.version = v.version
        RETURNING orders.id),
     l AS (
       UPDATE order_lines ol SET state = x.state, unit_price = x.unit_price
         FROM unnest(${line}) AS x(order_id, product_id, state, unit_price)
        WHERE ol.order_id = x.order_id AND ol.product_id = x.product_id),
     t AS (${timeline}),
     ob AS (${outbox})
     SELECT ${batchExpect(`(SELECT count(*) FROM o) = ${expected}`, 'orders moved since they were read')}
            ${outboxColumn(sending)}`;
  return { text, values: p.values };
}

/**
 * The INSERT of timeline entries, each order's in the order given, to be one part (WITH) of a
 * larger statement. With `onlyOrdersOf`, the name of a part returning orders (their `id`), an
 * order's entries are added only if that part returned the order.
 */
function timelineInsert(
  p: SqlParams,
  orders: readonly { orderId: string; timeline: readonly TimelineEntry[] }[],
  onlyOrdersOf?: string,
): string {
  const entries = orders.flatMap((o) => o.timeline.map((t) => ({ orderId: o.orderId, ...t })));
  const join = onlyOrdersOf ? `JOIN ${onlyOrdersOf} ON ${onlyOrdersOf}.id = x.order_id` : '';
  return `INSERT INTO order_timeline (order_id, participant, state, detail)
    SELECT x.order_id, x.participant, x.state, x.detail
      FROM unnest(${arrays(p, [
        [entries.map((x) => x.orderId), 'uuid[]'],
        [entries.map((x) => x.participant), 'text[]'],
        [entries.map((x) => x.state), 'text[]'],
        [entries.map((x) => x.detail), 'text[]'],
      ])}) WITH ORDINALITY AS x(order_id, participant, state, detail, n) ${join}
     ORDER BY x.n`;
}

/** The order with its lines (StoredOrder's row). */
export function selectOrder(orderId: string): Statement {
  const p = new SqlParams();
  return { text: `SELECT o.*, ${LINES_OF_O} FROM orders o WHERE o.id = ${p.add(orderId)}`, values: p.values };
}

/** The orders with their lines, in one query. */
export function selectOrders(orderIds: readonly string[]): Statement {
  const p = new SqlParams();
  return {
    text: `SELECT o.*, ${LINES_OF_O} FROM orders o WHERE o.id = ANY(${p.add(orderIds, 'uuid[]')})`,
    values: p.values,
  };
}

/** The order with its lines and timeline, as the API shows it (ViewRow). */
export function selectView(orderId: string): Statement {
  const p = new SqlParams();
  const text = `SELECT o.*, ${LINES_OF_O},
            (SELECT ${timelineOf('t')} FROM order_timeline t WHERE t.order_id = o.id) AS timeline
       FROM orders o WHERE o.id = ${p.add(orderId)}`;
  return { text, values: p.values };
}

/** The order a customer placed under an idempotency key, and the hash of the request that placed it. */
export function selectByIdempotencyKey(customerId: string, key: string): Statement {
  const p = new SqlParams();
  return {
    text: `SELECT id, request_hash FROM orders WHERE customer_id = ${p.add(customerId)} AND idempotency_key = ${p.add(key)}`,
    values: p.values,
  };
}

/** What the scheduler looks for: try deadlines that passed, confirms/cancels due to be sent again. */
export type Due = 'deadline' | 'retry';

/**
 * The orders due (oldest first), locked: SKIP LOCKED, so instances share them. Each predicate is
 * its partial index's (orders_trying_deadline, orders_retry_due).
 */
export function selectDue(due: Due, limit: number): Statement {
  const p = new SqlParams();
  const text =
    due === 'deadline'
      ? `SELECT id FROM orders WHERE status = 'TRYING' AND deadline_at < now()
          ORDER BY deadline_at LIMIT ${p.add(limit)} FOR UPDATE SKIP LOCKED`
      : `SELECT id FROM orders WHERE status IN (${RESENDING_SQL}) AND next_retry_at < now()
          ORDER BY next_retry_at LIMIT ${p.add(limit)} FOR UPDATE SKIP LOCKED`;
  return { text, values: p.values };
}

/**
 * The orders in progress (neither confirmed nor cancelled), one count per partial index of the
 * scheduler, whose predicates are exactly these: `status IN (all three)` is a sequential scan of
 * every order, each count here an index-only scan.
 */
export function selectInProgressCount(): Statement {
  const text = `SELECT ((SELECT count(*) FROM orders WHERE status = 'TRYING')
         + (SELECT count(*) FROM orders WHERE status IN (${RESENDING_SQL})))::int AS n`;
  return { text, values: [] };
}

/** The final SELECT's column of a statement with an outbox part `ob`. */
function outboxColumn(sending: Sending): string {
  return sending.relayAfterMs === undefined ? `, ${NOTIFY_OUTBOX}` : `, ${outboxIdsOf('ob')}`;
}

/** The timeline entries of `t` (order_timeline rows), oldest first, as a JSON array (an aggregate). */
function timelineOf(t: string): string {
  return `coalesce(json_agg(json_build_object('participant', ${t}.participant, 'state', ${t}.state,
                  'detail', ${t}.detail, 'at', ${t}.at) ORDER BY ${t}.id), '[]')`;
}

/** Columns as one array parameter each, for unnest: `[values, cast]` in column order. */
function arrays(p: SqlParams, columns: readonly (readonly [readonly unknown[], string])[]): string {
  return columns.map(([values, cast]) => p.add(values, cast)).join(', ');
}
