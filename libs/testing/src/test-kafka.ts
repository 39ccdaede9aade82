import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, Consumer, KafkaMessage } from 'kafkajs';
import { waitFor } from './wait-for';

export function testBrokers(): string[] {
  const brokers = process.env['KAFKA_BROKERS'];
  if (!brokers)
    throw new Error(
      'KAFKA_BROKERS is not set: run the tests through their Nx targets (the global setup sets it)',
    );
  return brokers.split(',');
}

export function testKafka(clientId = 'tcc-test'): Kafka {
  return new Kafka({ clientId, brokers: testBrokers(), logLevel: logLevel.NOTHING, retry: { retries: 5 } });
}

/** Each test gets its own topic (and group) names, so tests never read each other's messages. */
export function uniqueName(prefix: string): string {
  return `test.${prefix}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

export async function createTopic(admin: Admin, topic: string, partitions: number): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
  });
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function toReceived(topic: string, partition: number, m: KafkaMessage): ReceivedMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) headers[k] = first.toString();
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key?.toString() ?? null,
    value: m.value?.toString() ?? null,
    headers,
  };
}

/** Reads a topic from the beginning until `until` says it has seen enough. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  until: (messages: ReceivedMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<ReceivedMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 200 });
  const received: ReceivedMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        received.push(toReceived(t, partition, message));
      },
    });
    await waitFor(() => until(received), { timeoutMs, description: `messages on ${topic}` });
    return received;
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Records a topic from its beginning with a consumer of its own, for tests that check what a
 * component sent to Kafka. `sent()` first waits until the recorder has read up to the topic's end
 * as it is at the call, so whatever was acknowledged before the call is in the answer.
 */
export class TopicRecorder {
  private readonly received: ReceivedMessage[] = [];
  /** per partition, the offset after the last message read */
  private readonly next = new Map<number, bigint>();

  private constructor(
    private readonly admin: Admin,
    private readonly consumer: Consumer,
    readonly topic: string,
  ) {}

  static async start(kafka: Kafka, topic: string): Promise<TopicRecorder> {
    const admin = kafka.admin();
    await admin.connect();
    const consumer = kafka.consumer({ groupId: uniqueName('recorder'), maxWaitTimeInMs: 50 });
    const recorder = new TopicRecorder(admin, consumer, topic);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        recorder.received.push(toReceived(t, partition, message));
        recorder.next.set(partition, BigInt(message.offset) + 1n);
      },
    });
    return recorder;
  }

  /** Every message read so far, once the recorder has caught up with the topic's end. */
  async messages(): Promise<ReceivedMessage[]> {
    const ends = await this.admin.fetchTopicOffsets(this.topic);
    await waitFor(() => ends.every((p) => (this.next.get(p.partition) ?? 0n) >= BigInt(p.high)), {
      description: `the recorder of ${this.topic} to catch up`,
      timeoutMs: 15_000,
      intervalMs: 10,
    });
    return [...this.received];
  }

  /** The messages sent for these correlation ids (x-correlation-id), in the order they were read. */
  async sent<E = unknown>(
    ...correlationIds: string[]
  ): Promise<{ envelope: E; headers: Record<string, string> }[]> {
    const wanted = new Set(correlationIds);
    return (await this.messages())
      .filter((m) => wanted.has(m.headers['x-correlation-id'] ?? ''))
      .map((m) => ({ envelope: JSON.parse(m.value ?? 'null') as E, headers: m.headers }));
  }

  /** The envelopes of `sent`. */
  async envelopes<E = unknown>(...correlationIds: string[]): Promise<E[]> {
    return (await this.sent<E>(...correlationIds)).map((m) => m.envelope);
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
    await this.admin.disconnect();
  }
}
