import { Partitioners } from 'kafkajs';
import type { Kafka, Producer } from 'kafkajs';
import { anyEnvelopeSchema } from '@tcc/contracts';
import type { AnyEnvelope, SagaMessage } from '@tcc/contracts';
import { readTopic, testKafka } from '@tcc/testing';
import type { ReceivedMessage } from '@tcc/testing';

/** Publishes straight to a topic, as a misbehaving or duplicating producer would. */
export class TopicClient {
  readonly kafka: Kafka = testKafka('e2e-publisher');
  private readonly producer: Producer = this.kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });

  async connect(): Promise<void> {
    await this.producer.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }

  async send(topic: string, key: string, value: SagaMessage | string | Buffer): Promise<void> {
    const bytes = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value);
    await this.producer.send({ topic, acks: -1, messages: [{ key, value: bytes }] });
  }

  /** Replies (or any envelopes) on a topic for one correlation id, once `count` have arrived. */
  async envelopes(
    topic: string,
    correlationId: string,
    count: number,
    timeoutMs = 30_000,
  ): Promise<AnyEnvelope[]> {
    const mine = (messages: ReceivedMessage[]) =>
      messages
        .map((m) => anyEnvelopeSchema.safeParse(JSON.parse(m.value ?? 'null')))
        .flatMap((r) => (r.success && r.data.correlationId === correlationId ? [r.data] : []));
    const all = await readTopic(this.kafka, topic, (messages) => mine(messages).length >= count, timeoutMs);
    return mine(all);
  }

  /** Messages ever written to a topic (sum of its partitions' end offsets). */
  async messageCount(topic: string): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, o) => sum + Number(o.high), 0);
    } finally {
      await admin.disconnect();
    }
  }

  read(
    topic: string,
    until: (messages: ReceivedMessage[]) => boolean,
    timeoutMs = 30_000,
  ): Promise<ReceivedMessage[]> {
    return readTopic(this.kafka, topic, until, timeoutMs);
  }
}

export { topicsCli } from '@tcc/testing';
