import type { Message } from 'kafkajs';
import { Headers } from '@tcc/contracts';
import type { AnyEnvelope } from '@tcc/contracts';

/**
 * The Kafka record of a saga message, whoever sends it (the outbox relay, a participant's reply):
 * the envelope as JSON, `headers` (a traceparent), and the envelope's ids and type as headers, so
 * tools and dead-letter readers see them without parsing the value.
 */
export function kafkaMessageOf(key: string, envelope: AnyEnvelope, headers: Record<string, string>): Message {
  return {
    key,
    value: JSON.stringify(envelope),
    headers: {
      ...headers,
      [Headers.messageId]: envelope.messageId,
      [Headers.messageType]: envelope.type,
      [Headers.correlationId]: envelope.correlationId,
      [Headers.schemaVersion]: String(envelope.schemaVersion),
      ...(envelope.causationId ? { [Headers.causationId]: envelope.causationId } : {}),
    },
  };
}
