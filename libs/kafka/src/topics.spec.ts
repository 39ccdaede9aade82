import { KafkaJSProtocolError } from 'kafkajs';
import { subscribeWhenKnown } from './topics';

/** What kafkajs throws when the broker it asked does not know the topic (yet). */
const unknownTopic = () =>
  new KafkaJSProtocolError(
    Object.assign(new Error('This server does not host this topic-partition'), {
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
      code: 3,
      retriable: true,
    }),
  );

describe('subscribeWhenKnown', () => {
  it('asks again while a broker does not know the topic yet, then subscribes', async () => {
    const calls: unknown[] = [];
    const consumer = {
      subscribe: async (s: unknown) => {
        calls.push(s);
        if (calls.length < 3) throw unknownTopic();
      },
    };
    await subscribeWhenKnown(consumer, ['t.a', 't.b']);
    expect(calls).toEqual([
      { topics: ['t.a', 't.b'], fromBeginning: true },
      { topics: ['t.a', 't.b'], fromBeginning: true },
      { topics: ['t.a', 't.b'], fromBeginning: true },
    ]);
  });

  it('gives up on any other error at once', async () => {
    let calls = 0;
    const consumer = {
      subscribe: async () => {
        calls++;
        throw new Error('Not authorized to access topics: [t.a]');
      },
    };
    await expect(subscribeWhenKnown(consumer, ['t.a'])).rejects.toThrow('Not authorized');
    expect(calls).toBe(1);
  });

  it('gives up when the topic is still unknown at the deadline', async () => {
    const consumer = {
      subscribe: async () => {
        throw unknownTopic();
      },
    };
    await expect(subscribeWhenKnown(consumer, ['t.a'], 250)).rejects.toThrow(
      'This server does not host this topic-partition',
    );
  });
});
