import { z } from 'zod';

/**
 * Every message that crosses a service boundary travels in this envelope. The payload is a
 * discriminated union on `type` (see messages.ts); the envelope fields are what the runtime needs
 * to route, de-duplicate and trace a message without knowing its payload.
 */
export const envelopeFields = {
  /** unique per message; consumers de-duplicate on it */
  messageId: z.uuid(),
  /** schema version of this message type; bumped on breaking payload changes */
  schemaVersion: z.int().positive(),
  /** the order id: every message of one saga shares it */
  correlationId: z.string().min(1).max(100),
  /** the message that caused this one, or null for the first of a saga */
  causationId: z.uuid().nullable(),
  /** when the sender created the message, ISO-8601 */
  occurredAt: z.iso.datetime({ offset: true }),
};

export const anyEnvelopeSchema = z.object({
  ...envelopeFields,
  type: z.string().min(1),
  payload: z.unknown(),
});
export type AnyEnvelope = z.infer<typeof anyEnvelopeSchema>;

/** Builds the schema of one message type: the envelope with a literal type and its payload. */
export function messageSchema<const T extends string, P extends z.ZodType>(type: T, payload: P) {
  return z.object({ ...envelopeFields, type: z.literal(type), payload });
}

/** Kafka header names. The correlation id also travels in a header so logs and tools can follow a saga without decoding payloads. */
export const Headers = {
  messageId: 'x-message-id',
  messageType: 'x-message-type',
  correlationId: 'x-correlation-id',
  causationId: 'x-causation-id',
  schemaVersion: 'x-schema-version',
} as const;
