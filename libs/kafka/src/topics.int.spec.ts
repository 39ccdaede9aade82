import { ConfigResourceTypes } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { testKafka, uniqueName } from '@tcc/testing';
import { ensureTopics, subscribeWhenKnown } from './topics';

/** What a created topic's min.insync.replicas is, as the broker describes it. */
async function minInsync(admin: Admin, topic: string): Promise<string | undefined> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }],
  });
  return resources[0]?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
}

describe('ensureTopics on a real broker', () => {
  let admin: Admin;

  beforeAll(async () => {
    admin = testKafka().admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it("creates missing topics with the partitions asked for and the broker's replication when none is configured", async () => {
    const topics = [uniqueName('ensure-a'), uniqueName('ensure-b')];
    const result = await ensureTopics(admin, topics, { partitions: 3 });
    expect(result).toMatchObject({ created: topics, existing: [], underPartitioned: [] });
    // the test broker is one node: its default.replication.factor is 1
    expect(result.replicas).toBe(1);
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
    expect(metadata.map((t) => t.partitions.length)).toEqual([3, 3]);
  });

  it('gives a created topic the configured min.insync.replicas, and reports existing ones with fewer partitions', async () => {
    const topic = uniqueName('ensure-isr');
    await ensureTopics(admin, [topic], { partitions: 2, replicationFactor: 1, minInsyncReplicas: 1 });
    expect(await minInsync(admin, topic)).toBe('1');
    const again = await ensureTopics(admin, [topic], { partitions: 4 });
    expect(again).toMatchObject({
      created: [],
      existing: [topic],
      underPartitioned: [{ topic, partitions: 2 }],
      replicas: 1,
    });
  });

  it('subscribes a consumer to topics just created, and it reads what is written to them', async () => {
    const kafka = testKafka();
    const topic = uniqueName('ensure-subscribe');
    await ensureTopics(admin, [topic], { partitions: 1 });
    const consumer = kafka.consumer({ groupId: uniqueName('ensure-subscribe'), maxWaitTimeInMs: 100 });
    const producer = kafka.producer();
    await Promise.all([consumer.connect(), producer.connect()]);
    try {
      await subscribeWhenKnown(consumer, [topic]);
      const read = new Promise<string | undefined>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value?.toString()) });
      });
      await producer.send({ topic, messages: [{ value: 'first' }] });
      expect(await read).toBe('first');
    } finally {
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
    }
  });
});
