import type { EntityManager } from 'typeorm';
import { routeOf } from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import { outgoingTraceparent, TRACEPARENT_HEADER } from '@tcc/observability';

export const OUTBOX_CHANNEL = 'tcc_outbox';

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
  // the current span (a request, a message being handled) is the parent of what it sends
  const traceparent = outgoingTraceparent();
  if (traceparent) headers = { [TRACEPARENT_HEADER]: traceparent, ...headers };
  const values: unknown[] = [];
  const rows = messages.map((message, i) => {
    const { topic, key } = routeOf(message);
    values.push(
      message.messageId,
      topic,
      key,
      message.type,
      JSON.stringify(message),
      JSON.stringify(headers),
    );
    const p = i * 6;
    return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}::jsonb, $${p + 6}::jsonb)`;
  });
  // one round trip: a data-modifying WITH runs whether or not the outer query reads it
  await manager.query(
    `WITH added AS (INSERT INTO outbox (message_id, topic, key, type, envelope, headers) VALUES ${rows.join(', ')})
     SELECT pg_notify('${OUTBOX_CHANNEL}', '')`,
    values,
  );
}
