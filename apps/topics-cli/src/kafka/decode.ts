import type { IHeaders, KafkaMessage } from 'kafkajs';
import { anyEnvelopeSchema, Headers, orderReplies, paymentCommands, stockCommands } from '@tcc/contracts';
import type { ZodType } from 'zod';

const schemas: Record<string, ZodType> = { ...stockCommands, ...paymentCommands, ...orderReplies };

/** One Kafka message, decoded through the schemas in libs/contracts where it can be. */
export interface DecodedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** broker timestamp, ISO-8601 */
  time: string;
  headers: Record<string, string>;
  type: string | null;
  messageId: string | null;
  correlationId: string | null;
  payload: unknown;
  /** why it could not be decoded, if it could not */
  problem: string | null;
  /** the value as text (for messages that are not valid envelopes) */
  value: string | null;
}

export function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first.toString();
  }
  return out;
}

export function decode(topic: string, partition: number, message: KafkaMessage): DecodedMessage {
  const headers = headersOf(message.headers);
  const value = message.value?.toString('utf8') ?? null;
  const base: DecodedMessage = {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    time: new Date(Number(message.timestamp)).toISOString(),
    headers,
    type: headers[Headers.messageType] ?? null,
    messageId: headers[Headers.messageId] ?? null,
    correlationId: headers[Headers.correlationId] ?? null,
    payload: null,
    problem: null,
    value,
  };
  if (value === null) return { ...base, problem: 'no value (tombstone)' };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { ...base, problem: 'not JSON' };
  }
  const envelope = anyEnvelopeSchema.safeParse(json);
  if (!envelope.success) return { ...base, problem: 'not a message envelope' };
  const e = envelope.data;
  const decoded = {
    ...base,
    type: e.type,
    messageId: e.messageId,
    correlationId: e.correlationId,
    payload: e.payload,
  };
  const schema = schemas[e.type];
  if (!schema) return { ...decoded, problem: `unknown type ${e.type}` };
  const parsed = schema.safeParse(json);
  return parsed.success ? decoded : { ...decoded, problem: `fails the ${e.type} schema` };
}
