import type { PartitionMetadata, RecordMetadata } from 'kafkajs';
import { partitioner } from './kafka.client';
import { notePartition, sendAllOrFail, UnwrittenPartitionsError } from './written-partitions';

const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({
  partitionId,
  leader: 1,
  partitionErrorCode: 0,
  replicas: [1],
  isr: [1],
})) as PartitionMetadata[];

const ack = (topicName: string, partition: number): RecordMetadata => ({
  topicName,
  partition,
  errorCode: 0,
});

/**
 * A send as kafkajs makes it: the partitioner places every message (on every attempt), then the
 * brokers' acknowledgements come back; `acknowledge` says which of the placed partitions they list.
 */
function kafkajsLikeSend(
  topic: string,
  keys: string[],
  acknowledge: (placed: number[]) => number[],
): () => Promise<RecordMetadata[]> {
  const place = partitioner();
  return async () => {
    await Promise.resolve(); // kafkajs places messages after awaiting metadata
    const placed = keys.map((key) => place({ topic, partitionMetadata, message: { key, value: 'v' } }));
    await Promise.resolve();
    return [...new Set(acknowledge(placed))].map((p) => ack(topic, p));
  };
}

const keys = Array.from({ length: 20 }, (_, i) => `product-${i}`);

describe('sendAllOrFail', () => {
  it('given every partition that got messages acknowledged, then the send resolves with the acknowledgements', async () => {
    const acknowledged = await sendAllOrFail(
      keys.length,
      kafkajsLikeSend('tcc.stock.commands', keys, (placed) => placed),
    );
    expect(acknowledged.length).toBeGreaterThan(1);
  });

  it('given a partition missing from the acknowledgements (kafkajs skipped its new leader), then the send fails naming it', async () => {
    let dropped = -1;
    const send = kafkajsLikeSend('tcc.stock.commands', keys, (placed) => {
      dropped = placed[0] ?? -1;
      return placed.filter((p) => p !== dropped);
    });
    const error = await sendAllOrFail(keys.length, send).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnwrittenPartitionsError);
    expect((error as UnwrittenPartitionsError).partitions).toEqual([`tcc.stock.commands/${dropped}`]);
  });

  it('given two sends at once, then each is checked against its own partitions only', async () => {
    const [a, b] = await Promise.allSettled([
      sendAllOrFail(
        1,
        kafkajsLikeSend('tcc.stock.commands', ['product-1'], (placed) => placed),
      ),
      sendAllOrFail(
        2,
        kafkajsLikeSend('tcc.payment.commands', ['customer-1', 'customer-2'], () => []),
      ),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(((b as PromiseRejectedResult).reason as UnwrittenPartitionsError).partitions.join()).toMatch(
      /^tcc\.payment\.commands\/\d/,
    );
  });

  it('given a keyless message placed elsewhere on a retry, then only the attempt that ended the send counts', async () => {
    const acknowledged = await sendAllOrFail(1, async () => {
      notePartition('tcc.dead-letters', 0); // the first attempt, failed
      await Promise.resolve();
      notePartition('tcc.dead-letters', 3); // the retry, written
      return [ack('tcc.dead-letters', 3)];
    });
    expect(acknowledged).toHaveLength(1);
  });

  it('given a placement outside any send (an admin, a test), then nothing is noted', () => {
    expect(() => notePartition('tcc.stock.commands', 1)).not.toThrow();
  });
});

describe("kafkajs' own send, a partition's leader moving mid-send to a broker that already answered", () => {
  type Send = (args: {
    acks: number;
    topicMessages: { topic: string; messages: object[] }[];
  }) => Promise<RecordMetadata[]>;
  const quiet = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const topic = 'tcc.stock.commands';
  const metadata = (n: number) => partitionMetadata.slice(0, n);

  /** kafkajs 2.2.4's sendMessages over two brokers; broker 2 dies at its first request and its partition moves to broker 1. */
  function kafkajsSendOverTwoBrokers(written: string[]): Send {
    const createSendMessages = jest.requireActual<(deps: object) => Send>(
      'kafkajs/src/producer/sendMessages',
    );
    const createRetry = jest.requireActual<(options: object) => unknown>('kafkajs/src/retry');
    const leaders: Record<number, number> = { 0: 1, 1: 2 };
    const broker = (nodeId: number) => ({
      nodeId,
      produce: async ({
        topicData,
      }: {
        topicData: { topic: string; partitions: { partition: number }[] }[];
      }) => {
        if (nodeId === 2) {
          const dead = new Error('Connection error: connect ECONNREFUSED');
          dead.name = 'KafkaJSConnectionError';
          throw dead;
        }
        for (const t of topicData) for (const p of t.partitions) written.push(`${t.topic}/${p.partition}`);
        return {
          topics: topicData.map((t) => ({
            topicName: t.topic,
            partitions: t.partitions.map((p) => ({
              partition: Number(p.partition),
              errorCode: 0,
              baseOffset: '0',
            })),
          })),
        };
      },
    });
    const brokers: Record<number, ReturnType<typeof broker>> = { 1: broker(1), 2: broker(2) };
    const cluster = {
      targetTopics: new Set<string>(),
      refreshMetadataIfNecessary: async () => undefined,
      addMultipleTargetTopics: async () => undefined,
      isConnected: () => true,
      removeBroker: () => undefined,
      // the cluster fenced broker 2: its partition now has broker 1 as leader
      refreshMetadata: async () => void (leaders[1] = 1),
      findTopicPartitionMetadata: () => metadata(2).map((p) => ({ ...p, leader: leaders[p.partitionId] })),
      findLeaderForPartitions: (_: string, partitions: number[]) => {
        const byLeader: Record<number, number[]> = {};
        for (const p of partitions) (byLeader[leaders[p] ?? 0] ??= []).push(p);
        return byLeader;
      },
      findBroker: async ({ nodeId }: { nodeId: number }) => brokers[nodeId],
    };
    const eosManager = {
      isTransactional: () => false,
      getSequence: () => 0,
      updateSequence: () => undefined,
      acquireBrokerLock: async () => undefined,
      releaseBrokerLock: async () => undefined,
      getProducerId: () => -1,
      getProducerEpoch: () => 0,
    };
    return createSendMessages({
      logger: quiet,
      cluster,
      partitioner: partitioner(),
      eosManager,
      retrier: createRetry({ retries: 3, initialRetryTime: 1, maxRetryTime: 5 }),
    });
  }

  /** one key placed on each of the two partitions */
  function keysOnBothPartitions(): string[] {
    const place = partitioner();
    const found = new Map<number, string>();
    for (let i = 0; found.size < 2; i++) {
      const key = `product-${i}`;
      found.set(place({ topic, partitionMetadata: metadata(2), message: { key, value: 'v' } }), key);
    }
    return [...found.values()];
  }

  it('is needed: kafkajs resolves the send without ever writing the moved partition', async () => {
    const written: string[] = [];
    const send = kafkajsSendOverTwoBrokers(written);
    const acknowledged = await send({
      acks: -1,
      topicMessages: [{ topic, messages: keysOnBothPartitions().map((key) => ({ key, value: 'v' })) }],
    });
    expect(written).toEqual([`${topic}/0`]);
    expect(acknowledged.map((r) => r.partition)).toEqual([0]);
  });

  it('sendAllOrFail turns that send into a failure naming the partition, so its caller sends it again', async () => {
    const send = kafkajsSendOverTwoBrokers([]);
    const error = await sendAllOrFail(2, () =>
      send({
        acks: -1,
        topicMessages: [{ topic, messages: keysOnBothPartitions().map((key) => ({ key, value: 'v' })) }],
      }),
    ).catch((e: unknown) => e);
    expect((error as UnwrittenPartitionsError).partitions).toEqual([`${topic}/1`]);
  });
});
