import type { DataSource, EntityManager } from 'typeorm';
import { routeOf } from '@tcc/contracts';
import { preparedQuery } from '@tcc/database';
import type { SagaMessage } from '@tcc/contracts';
import { outgoingTraceparent, TRACEPARENT_HEADER } from '@tcc/observability';
import type { OutgoingMessage } from './direct-publisher';

export const OUTBOX_CHANNEL = 'tcc_outbox';

/** Collects one statement's positional parameters: `params.add(v, 'uuid[]')` returns `$3::uuid[]`. */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return `$${this.values.length}${cast ? `::${cast}` : ''}`;
  }
}

/** Wakes the relays (delivered when the transaction commits). */
export const NOTIFY_OUTBOX = `pg_notify('${OUTBOX_CHANNEL}', '')`;

/**
 * The relay leading each database in this process, by the DataSource its writers use: set by the
 * relay while it holds the relay lock.
 */
const localRelays = new WeakMap<DataSource, () => void>();

export function setLocalRelay(db: DataSource, wake: () => void): void {
  localRelays.set(db, wake);
}

/** Unregisters `wake`, unless another relay (of the same DataSource) took its place meanwhile. */
export function clearLocalRelay(db: DataSource, wake: () => void): void {
  if (localRelays.get(db) === wake) localRelays.delete(db);
}

/**
 * Runs one statement that writes to the outbox, on its own (it commits when it returns), as a
 * prepared statement, and wakes the relay. When this process's relay leads, the statement runs
 * without its NOTIFY and the relay is woken in-process: a NOTIFY holds a database-wide lock from
 * the statement to the end of its commit, which serializes the committing writers, and wakes the
 * relay through its own backend (4% of the machine's CPU per order at 100/s, measured here).
 * Otherwise the NOTIFY wakes whichever instance leads. A statement without NOTIFY_OUTBOX runs as
 * it is, waking nothing.
 */
export async function writeAndWake<T>(db: DataSource, text: string, values: unknown[]): Promise<T> {
  const wake = localRelays.get(db);
  if (!wake || !text.includes(NOTIFY_OUTBOX)) return preparedQuery<T>(db, text, values);
  const rows = await preparedQuery<T>(db, withoutNotify(text), values);
  wake();
  return rows;
}

/**
 * `text` with its NOTIFY taken out. The texts are the few fixed ones of prepared statements, some
 * kilobytes each: copying one for every statement was 3% of the order service's allocations.
 */
function withoutNotify(text: string): string {
  let silent = silentTexts.get(text);
  if (silent === undefined) {
    silent = text.replaceAll(NOTIFY_OUTBOX, 'NULL');
    if (silentTexts.size >= MAX_SILENT_TEXTS) silentTexts.clear();
    silentTexts.set(text, silent);
  }
  return silent;
}
const silentTexts = new Map<string, string>();
/** More texts than any service has statements: a caller building unbounded texts still stays bounded. */
const MAX_SILENT_TEXTS = 1_000;

/**
 * The headers an outbox row gets: `headers`, and the current span (a request, a message being
 * handled) as the parent of what it sends. Taken in the sender's context: a statement written for
 * several senders at once takes each one's (`outboxInsert`'s `headersEach`).
 */
export function outboxHeaders(headers: Record<string, string> = {}): Record<string, string> {
  const traceparent = outgoingTraceparent();
  return traceparent ? { [TRACEPARENT_HEADER]: traceparent, ...headers } : headers;
}

/** What outboxInsert writes besides the messages: their headers, when the relay may send them. */
export interface OutboxInsertOptions {
  headers?: Record<string, string>;
  /**
   * headers per message, in `messages` order, instead of `headers` and the current span's
   * traceparent: for a batch, where each message has its own cause's span as parent
   */
  headersEach?: readonly Record<string, string>[];
  /**
   * The relay sends these rows only once they are this old: their writer sends them itself as
   * soon as the statement has committed (DirectPublisher) and has the relay delete them once Kafka
   * took them; the relay's copy is for a writer that died or could not reach Kafka meanwhile.
   * Default: the relay sends them at once.
   */
  relayAfterMs?: number;
}

/** The messages an outbox INSERT writes, each with the headers its row gets. */
export function outboxRows(
  messages: readonly SagaMessage[],
  options: Pick<OutboxInsertOptions, 'headers' | 'headersEach'> = {},
): OutgoingMessage[] {
  const { shared, each } = headerSets(messages.length, options);
  return messages.map((message, i) => ({ message, headers: each?.[i] ?? shared }));
}

/** The headers of `count` rows: one set per row (`headersEach`), or one set shared by all. */
function headerSets(
  count: number,
  options: Pick<OutboxInsertOptions, 'headers' | 'headersEach'>,
): { shared: Record<string, string>; each?: readonly Record<string, string>[] } {
  const each = options.headersEach;
  if (!each) return { shared: outboxHeaders(options.headers) };
  if (each.length !== count)
    throw new Error(`outboxInsert: ${each.length} header sets for ${count} messages`);
  return { shared: {}, each };
}

/**
 * The INSERT that puts `messages` in the outbox, to be one part (WITH) of a larger statement, so a
 * change and its messages are written in one round trip. With `onlyIf`, the name of another part,
 * the rows are added once per row that part returns: a guarded change that did not happen sends
 * nothing. It returns the new rows' ids, in `messages` order (`outboxIdsOf`).
 */
export function outboxInsert(
  params: SqlParams,
  messages: readonly SagaMessage[],
  options: OutboxInsertOptions & {
    onlyIf?: string;
    /**
     * per message, the row of another part it belongs to (`values[i]` is matched against that part's
     * `column`): a message is added only if its row was returned, e.g. the orders of one statement
     * that placed several, of which some keys were taken already
     */
    joinEach?: { part: string; column: string; values: readonly unknown[]; cast: string };
    /** rewrites each envelope (SQL over `m.envelope`), e.g. to fill in a value `onlyIf` returned */
    envelope?: (envelope: string) => string;
  } = {},
): string {
  const { shared: headers, each } = headerSets(messages.length, options);
  const routes = messages.map(routeOf);
  const columns = [
    params.add(
      messages.map((m) => m.messageId),
      'uuid[]',
    ),
    params.add(
      routes.map((r) => r.topic),
      'text[]',
    ),
    params.add(
      routes.map((r) => r.key),
      'text[]',
    ),
    params.add(
      messages.map((m) => m.type),
      'text[]',
    ),
    params.add(
      messages.map((m) => JSON.stringify(m)),
      'jsonb[]',
    ),
    each
      ? params.add(
          each.map((h) => JSON.stringify(h)),
          'jsonb[]',
        )
      : params.add(JSON.stringify(headers), 'jsonb'),
  ];
  const [ids, topics, keys, types, envelopes, header] = columns;
  const join = options.joinEach;
  if (join && join.values.length !== messages.length) {
    throw new Error(`outboxInsert: ${join.values.length} rows to join for ${messages.length} messages`);
  }
  const from = options.onlyIf ? `${options.onlyIf}, ` : '';
  const headerColumns = each ? `, ${header}` : '';
  const joinColumn = join ? `, ${params.add(join.values, `${join.cast}[]`)}` : '';
  const joined = join ? ` JOIN ${join.part} ON ${join.part}.${join.column} = m.joined` : '';
  const relayAfter =
    options.relayAfterMs === undefined
      ? `'-infinity'::timestamptz`
      : `now() + ${params.add(options.relayAfterMs, 'integer')} * interval '1 millisecond'`;
  return `INSERT INTO outbox (message_id, topic, key, type, envelope, headers, relay_after)
    SELECT m.message_id, m.topic, m.key, m.type, ${options.envelope ? options.envelope('m.envelope') : 'm.envelope'}, ${each ? 'm.headers' : header}, ${relayAfter}
      FROM ${from}unnest(${ids}, ${topics}, ${keys}, ${types}, ${envelopes}${headerColumns}${joinColumn})
           WITH ORDINALITY AS m(message_id, topic, key, type, envelope, ${each ? 'headers, ' : ''}${join ? 'joined, ' : ''}n)${joined}
     ORDER BY m.n
    RETURNING id`;
}

/**
 * A column for a statement's final SELECT: the ids of the rows its outbox part (WITH `part`)
 * inserted, in insertion order (bigint ids as text).
 */
export function outboxIdsOf(part: string): string {
  return `(SELECT coalesce(array_agg(id::text ORDER BY id), '{}') FROM ${part}) AS outbox_ids`;
}

/**
 * Adds messages to the outbox inside the caller's transaction: they are published if and only if
 * that transaction commits. NOTIFY is delivered on commit too, so the relay wakes at once.
 */
export async function enqueueMessages(
  manager: EntityManager,
  messages: readonly SagaMessage[],
  headers: Record<string, string> = {},
): Promise<void> {
  if (messages.length === 0) return;
  const params = new SqlParams();
  // one round trip: a data-modifying WITH runs whether or not the outer query reads it
  await manager.query(
    `WITH added AS (${outboxInsert(params, messages, { headers })}) SELECT ${NOTIFY_OUTBOX}`,
    params.values,
  );
}
