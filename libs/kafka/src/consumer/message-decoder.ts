import type { ZodError } from 'zod';
import type { KafkaMessage } from 'kafkajs';
import { anyEnvelopeSchema } from '@tcc/contracts';
import type { AnyEnvelope } from '@tcc/contracts';
import { PoisonMessageError, UnknownMessageTypeError } from './errors';
import type { MessageSchemas } from './errors';

export type DecodeResult = { ok: true; envelope: AnyEnvelope } | { ok: false; error: Error };
/** A fetched message that decoded: what the batch handler is offered. */
export type Decoded = { message: KafkaMessage; ok: true; envelope: AnyEnvelope };

export interface DecodeRules {
  /** a message larger than this is refused unread */
  maxBytes: number;
  schemas: MessageSchemas;
  /** whether this consumer has a handler for the message type */
  handles(type: string): boolean;
}

/**
 * A message's bytes as an envelope valid under its type's schema, or the reason they can never be
 * one (a PoisonMessageError or UnknownMessageTypeError: the message goes to the dead-letter topic).
 */
export function decodeMessage(value: Buffer | null, rules: DecodeRules): DecodeResult {
  if (value === null) return { ok: false, error: new PoisonMessageError('message has no value (tombstone)') };
  const limit = rules.maxBytes;
  if (value.length > limit) {
    return {
      ok: false,
      error: new PoisonMessageError(`message is ${value.length} bytes, more than the ${limit} allowed`),
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return {
      ok: false,
      error: new PoisonMessageError(`message is not valid JSON: ${(error as Error).message}`),
    };
  }
  const envelope = anyEnvelopeSchema.safeParse(json);
  if (!envelope.success) {
    return {
      ok: false,
      error: new PoisonMessageError(`envelope is invalid: ${describeIssues(envelope.error)}`),
    };
  }
  const schema = rules.schemas[envelope.data.type];
  if (!schema || !rules.handles(envelope.data.type)) {
    return { ok: false, error: new UnknownMessageTypeError(envelope.data.type) };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: new PoisonMessageError(
        `${envelope.data.type} fails its schema: ${describeIssues(parsed.error)}`,
      ),
    };
  }
  return { ok: true, envelope: parsed.data as AnyEnvelope };
}

/** `payload.quantity: Too small: expected number to be >0; payload.orderId: Invalid UUID` */
function describeIssues(error: ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ');
}
