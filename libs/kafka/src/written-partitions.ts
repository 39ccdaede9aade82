import { AsyncLocalStorage } from 'node:async_hooks';
import type { RecordMetadata } from 'kafkajs';

/** Where one send's messages were placed, attempt after attempt, in order (see sendAllOrFail). */
const assigned = new AsyncLocalStorage<string[]>();

const label = (topic: string, partition: number) => `${topic}/${partition}`;

/** Called by the partitioner for every message it places: notes the partition for the send it is in. */
export function notePartition(topic: string, partition: number): void {
  assigned.getStore()?.push(label(topic, partition));
}

/** A send kafkajs reported as done, but no broker acknowledged a write to these partitions. */
export class UnwrittenPartitionsError extends Error {
  override readonly name = 'UnwrittenPartitionsError';
  constructor(readonly partitions: readonly string[]) {
    super(`Kafka acknowledged no write to ${partitions.join(', ')}: the messages are sent again`);
  }
}

/**
 * Runs one kafkajs send and fails it when a partition that was given messages is missing from
 * the brokers' acknowledgements. kafkajs 2.2.4 keeps, across the retries of one send, the answer of
 * every broker that already acknowledged its share (tulios/kafkajs#1303, an open data-loss bug):
 * when a partition's leader dies mid-send and the partition moves to a broker that had answered
 * for its other partitions, the retry skips that broker, and the send resolves without the moved
 * partition's messages ever being written. Seen here when a broker was killed under load: an
 * order's payment try (the order was cancelled at its deadline) and a confirm (sent again by the
 * saga 30 s later) went nowhere. Every attempt places each of the send's `messages` with
 * `partitioner`, inside this send's context, so the last `messages` placements are where the
 * attempt that ended the send put them (a keyless message may land elsewhere on each attempt); the
 * acknowledgements list each partition a broker wrote. A missing one fails the send, and its
 * caller sends it again, as after any failed send (a message written twice is handled once by the
 * consumers).
 */
export async function sendAllOrFail(
  messages: number,
  send: () => Promise<RecordMetadata[]>,
): Promise<RecordMetadata[]> {
  const placements: string[] = [];
  const acknowledged = await assigned.run(placements, send);
  const written = new Set(acknowledged.map((r) => label(r.topicName, r.partition)));
  const given = new Set(messages > 0 ? placements.slice(-messages) : []);
  const unwritten = [...given].filter((p) => !written.has(p));
  if (unwritten.length > 0) throw new UnwrittenPartitionsError(unwritten);
  return acknowledged;
}
