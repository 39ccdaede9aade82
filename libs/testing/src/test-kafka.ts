import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin, KafkaMessage } from 'kafkajs';
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
