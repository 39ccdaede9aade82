import { randomBytes } from 'node:crypto';
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { decode } from './decode';
import type { DecodedMessage } from './decode';

export interface PartitionRange {
  topic: string;
  partition: number;
  /** first offset to read */
  from: bigint;
  /** offset to stop before; null reads on until interrupted (--follow) */
  to: bigint | null;
}

export interface PartitionOffsets {
  partition: number;
  low: bigint;
  high: bigint;
}

export async function partitionOffsets(admin: Admin, topic: string): Promise<PartitionOffsets[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets
    .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
    .sort((a, b) => a.partition - b.partition);
}

export interface RawMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

export interface ScanOptions {
  /** return true to stop the scan early; `raw` is the message as it is on the broker */
  onMessage: (message: DecodedMessage, raw: RawMessage) => boolean | void;
  onProgress?: (read: bigint, total: bigint) => void;
  signal?: AbortSignal;
}

/**
 * Reads the given partition ranges with a throw-away consumer group that commits nothing and is
 * deleted afterwards, so inspecting topics leaves no trace in `groups`.
 */
export async function scan(
  kafka: Kafka,
  admin: Admin,
  ranges: PartitionRange[],
  options: ScanOptions,
): Promise<void> {
  const pending = ranges.filter((r) => r.to === null || r.from < r.to);
  if (pending.length === 0) return;
  const groupId = `tcc-topics-cli-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250, allowAutoTopicCreation: false });
  const key = (topic: string, partition: number) => `${topic}/${partition}`;
  const open = new Map(pending.map((r) => [key(r.topic, r.partition), r]));
  const total = pending.reduce((sum, r) => sum + (r.to === null ? 0n : r.to - r.from), 0n);
  let read = 0n;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const closeIfDone = () => {
    if ([...open.values()].every((r) => r.to !== null && r.from >= r.to)) finish();
  };
  options.signal?.addEventListener('abort', () => finish());
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(pending.map((r) => r.topic))], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const range = open.get(key(topic, partition));
        if (!range) return;
        const offset = BigInt(message.offset);
        if (offset < range.from || (range.to !== null && offset >= range.to)) return;
        range.from = offset + 1n;
        read++;
        const raw = { key: message.key, value: message.value, headers: message.headers ?? {} };
        if (options.onMessage(decode(topic, partition, message), raw) === true) finish();
        options.onProgress?.(read, total);
        closeIfDone();
      },
    });
    for (const r of pending)
      consumer.seek({ topic: r.topic, partition: r.partition, offset: r.from.toString() });
    closeIfDone();
    await finished;
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
