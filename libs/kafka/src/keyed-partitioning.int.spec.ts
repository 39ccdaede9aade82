import type { Admin, Kafka, Producer } from 'kafkajs';
import { createTopic, readTopic, testKafka, uniqueName } from '@tcc/testing';

/**
 * The whole design rests on this: messages with one key always land on one partition, in the
 * order they were produced, so one consumer handles every change to one product or wallet in
 * order. Round-robin spreading (no key) is what produced duplicate rows in the seed articles.
 */
describe('a real broker keeps keyed messages on one partition, in order', () => {
  const partitions = 6;
  const keys = Array.from({ length: 40 }, (_, i) => `customer-${i}`);
  const perKey = 25;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    kafka = testKafka();
    admin = kafka.admin();
    producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await Promise.all([admin.connect(), producer.connect()]);
  });

  afterAll(async () => {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  });

  it('creates the topic with the partitions asked for', async () => {
    const topic = uniqueName('partitions');
    await createTopic(admin, topic, partitions);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(partitions);
  });

  it('routes every message of a key to the same partition and keeps their order', async () => {
    const topic = uniqueName('keyed');
    await createTopic(admin, topic, partitions);

    // interleave keys and send in concurrent batches, as many request handlers would
    const batches: { key: string; value: string }[][] = [];
    for (let seq = 0; seq < perKey; seq++) {
      batches.push(keys.map((key) => ({ key, value: JSON.stringify({ key, seq }) })));
    }
    for (const batch of batches) await producer.send({ topic, acks: -1, messages: batch });

    const total = keys.length * perKey;
    const received = await readTopic(kafka, topic, (m) => m.length >= total);
    expect(received).toHaveLength(total);

    const partitionsOfKey = new Map<string, Set<number>>();
    const byPartition = new Map<number, typeof received>();
    for (const m of received) {
      const key = m.key ?? 'null';
      partitionsOfKey.set(key, (partitionsOfKey.get(key) ?? new Set()).add(m.partition));
      byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    }

    // one partition per key
    for (const key of keys) expect([key, partitionsOfKey.get(key)?.size]).toEqual([key, 1]);
    // keys spread over several partitions (the default partitioner hashes them)
    expect(byPartition.size).toBeGreaterThan(1);

    // in offset order, every key's sequence numbers come 0, 1, 2, ...
    for (const messages of byPartition.values()) {
      const sorted = [...messages].sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
      const next = new Map<string, number>();
      for (const m of sorted) {
        const { key, seq } = JSON.parse(m.value ?? '{}') as { key: string; seq: number };
        expect(seq).toBe(next.get(key) ?? 0);
        next.set(key, seq + 1);
      }
    }
  });

  it('sends the same key to the same partition on a second producer too', async () => {
    const topic = uniqueName('stable');
    await createTopic(admin, topic, partitions);
    const other = kafka.producer({ allowAutoTopicCreation: false });
    await other.connect();
    try {
      await producer.send({ topic, messages: keys.map((key) => ({ key, value: 'first' })) });
      await other.send({ topic, messages: keys.map((key) => ({ key, value: 'second' })) });
      const received = await readTopic(kafka, topic, (m) => m.length >= keys.length * 2);
      const partitionOf = (value: string) =>
        new Map(received.filter((m) => m.value === value).map((m) => [m.key, m.partition]));
      expect(partitionOf('second')).toEqual(partitionOf('first'));
    } finally {
      await other.disconnect();
    }
  });
});
