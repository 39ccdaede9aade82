import { createTopic, testBrokers, testKafka, uniqueName } from '@tcc/testing';
import { loadTopics } from './load';

describe('the checker reading Kafka', () => {
  it("measures the lag of the services' groups only, not of other groups on the broker", async () => {
    const prefix = `${uniqueName('checker')}.`;
    const topic = `${prefix}tcc.stock.commands`;
    const kafka = testKafka();
    const admin = kafka.admin();
    const producer = kafka.producer();
    await admin.connect();
    await producer.connect();
    const service = uniqueName('tcc-stock');
    const stranger = uniqueName('left-behind');
    try {
      await createTopic(admin, topic, 1);
      await producer.send({ topic, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
      // the service has read everything; another group (a test's, an ad-hoc reader's) stopped early
      await admin.setOffsets({ groupId: service, topic, partitions: [{ partition: 0, offset: '3' }] });
      await admin.setOffsets({ groupId: stranger, topic, partitions: [{ partition: 0, offset: '1' }] });

      const { lags } = await loadTopics(testBrokers(), prefix, [service]);
      expect(lags).toEqual([{ group: service, topic, partition: 0, lag: 0 }]);

      const both = await loadTopics(testBrokers(), prefix, [service, stranger]);
      expect(both.lags).toContainEqual({ group: stranger, topic, partition: 0, lag: 2 });
    } finally {
      await admin.deleteGroups([service, stranger]).catch(() => undefined);
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
