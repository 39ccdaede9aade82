import { createTopic, testBrokers, testKafka, uniqueName, waitFor } from '@tcc/testing';
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

      const { lags, idleGroups } = await loadTopics(testBrokers(), prefix, [service]);
      expect(lags).toEqual([{ group: service, topic, partition: 0, lag: 0 }]);
      expect(idleGroups).toEqual([]);

      const both = await loadTopics(testBrokers(), prefix, [service, stranger]);
      expect(both.lags).toContainEqual({ group: stranger, topic, partition: 0, lag: 2 });

      // a named group that never committed (a service that never consumed, a wrong --groups)
      const missing = uniqueName('tcc-payment');
      const wrong = await loadTopics(testBrokers(), prefix, [service, missing]);
      expect(wrong.idleGroups).toEqual([{ group: missing, messages: 3 }]);

      // a running group is held only to the topics it subscribes to: none of them has messages yet
      const quietTopic = `${prefix}tcc.payment.commands`;
      await createTopic(admin, quietTopic, 1);
      const payment = uniqueName('tcc-payment');
      const consumer = kafka.consumer({ groupId: payment });
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: [quietTopic] });
        let joined = false;
        consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
        await consumer.run({ eachMessage: async () => undefined });
        await waitFor(() => joined, { description: 'the consumer to join its group' });
        const running = await loadTopics(testBrokers(), prefix, [service, payment]);
        expect(running.idleGroups).toEqual([]);
      } finally {
        await consumer.disconnect();
        await admin.deleteGroups([payment]).catch(() => undefined);
      }
    } finally {
      await admin.deleteGroups([service, stranger]).catch(() => undefined);
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
