import type { Producer, RecordMetadata } from 'kafkajs';
import { sendAllOrFail } from './written-partitions';

/**
 * Broker errors after which an idempotent producer's id and sequence numbers no longer match what
 * the partition's leader has, so every later write of that producer to the partition is refused.
 * kafkajs (2.2) neither bumps the epoch nor takes a new producer id on them, as the Java client
 * does: after a leader moved (a broker killed, then back) one service's replies were refused with
 * OUT_OF_ORDER_SEQUENCE_NUMBER for minutes, every retry alike, and its orders waited.
 */
const SEQUENCE_LOST = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
]);

/** The broker's error type of a kafkajs error, also when a retrier wrapped it. */
function errorType(error: unknown): string | undefined {
  const e = error as { type?: string; cause?: unknown; originalError?: unknown } | undefined;
  if (!e) return undefined;
  if (typeof e.type === 'string' && SEQUENCE_LOST.has(e.type)) return e.type;
  return errorType(e.originalError) ?? errorType(e.cause);
}

export interface ProducerRenewal {
  /** the error type that made the producer renew */
  reason: string;
}

/**
 * An idempotent producer that replaces itself when the brokers no longer accept its sequence
 * numbers: the failing write still fails (its caller sends it again, as after any failed write),
 * and meanwhile a new kafkajs producer, with a new producer id and fresh sequences, is connected
 * and takes its place. A write the old producer had made, unacknowledged, may then be written once
 * more under the new id: the consumers handle a message twice as once (message ids and fences).
 * A send also fails when kafkajs reports it done without a write to every partition it gave
 * messages to (sendAllOrFail). Everything else is the kafkajs Producer's own.
 */
export function renewingProducer(
  make: () => Producer,
  onRenew: (renewal: ProducerRenewal) => void,
): Producer {
  let current = make();
  let renewing: Promise<void> | undefined;
  const renew = (reason: string): Promise<void> => {
    renewing ??= (async () => {
      onRenew({ reason });
      const old = current;
      const next = make();
      await next.connect();
      current = next;
      await old.disconnect().catch(() => undefined);
    })().finally(() => {
      renewing = undefined;
    });
    return renewing;
  };
  const writing =
    <K extends 'send' | 'sendBatch'>(name: K) =>
    async (...args: Parameters<Producer[K]>): Promise<RecordMetadata[]> => {
      try {
        const write = current[name] as (...a: Parameters<Producer[K]>) => Promise<RecordMetadata[]>;
        const request = args[0] as {
          acks?: number;
          messages?: unknown[];
          topicMessages?: { messages: unknown[] }[];
        };
        // without acknowledgements (acks 0) there is nothing to check them against
        if (request.acks === 0) return await write(...args);
        const messages =
          request.messages?.length ??
          (request.topicMessages ?? []).reduce((n, t) => n + t.messages.length, 0);
        return await sendAllOrFail(messages, () => write(...args));
      } catch (error) {
        const reason = errorType(error);
        if (reason) await renew(reason).catch(() => undefined);
        throw error;
      }
    };
  const send = writing('send');
  const sendBatch = writing('sendBatch');
  return new Proxy({} as Producer, {
    get(_, prop) {
      if (prop === 'send') return send;
      if (prop === 'sendBatch') return sendBatch;
      const value = (current as unknown as Record<PropertyKey, unknown>)[prop];
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(current) : value;
    },
  });
}
