import type { EntityManager } from 'typeorm';
import { routeOf } from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import { outgoingTraceparent, TRACEPARENT_HEADER } from '@tcc/observability';

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
 * The INSERT that puts `messages` in the outbox, to be one part (WITH) of a larger statement, so a
 * change and its messages are written in one round trip. With `onlyIf`, the name of another part,
 * the rows are added once per row that part returns: a guarded change that did not happen sends
 * nothing.
 */
export function outboxInsert(
  params: SqlParams,
  messages: readonly SagaMessage[],
  options: {
    headers?: Record<string, string>;
    /**
     * headers per message, in `messages` order, instead of `headers` and the current span's
     * traceparent: for a batch, where each reply has its own command's span as parent
     */
    headersEach?: readonly Record<string, string>[];
    onlyIf?: string;
    /** rewrites each envelope (SQL over `m.envelope`), e.g. to fill in a value `onlyIf` returned */
    envelope?: (envelope: string) => string;
  } = {},
): string {
  let headers = options.headers ?? {};
  // the current span (a request, a message being handled) is the parent of what it sends
  const traceparent = outgoingTraceparent();
  if (traceparent) headers = { [TRACEPARENT_HEADER]: traceparent, ...headers };
  const each = options.headersEach;
  if (each && each.length !== messages.length) {
    throw new Error(`outboxInsert: ${each.length} header sets for ${messages.length} messages`);
  }
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
  const from = options.onlyIf ? `${options.onlyIf}, ` : '';
  const headerColumns = each ? `, ${header}` : '';
  return `INSERT INTO outbox (message_id, topic, key, type, envelope, headers)
    SELECT m.message_id, m.topic, m.key, m.type, ${options.envelope ? options.envelope('m.envelope') : 'm.envelope'}, ${each ? 'm.headers' : header}
      FROM ${from}unnest(${ids}, ${topics}, ${keys}, ${types}, ${envelopes}${headerColumns})
           WITH ORDINALITY AS m(message_id, topic, key, type, envelope, ${each ? 'headers, ' : ''}n)
     ORDER BY m.n`;
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
