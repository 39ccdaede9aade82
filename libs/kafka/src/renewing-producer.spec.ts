import type { Producer } from 'kafkajs';
import { renewingProducer } from './renewing-producer';
import { notePartition, UnwrittenPartitionsError } from './written-partitions';

/** A stand-in for one kafkajs producer: its id, what it was sent, and what its next send throws. */
function fakeProducer(id: number, log: string[], failWith?: () => Error): Producer {
  return {
    connect: async () => void log.push(`connect ${id}`),
    disconnect: async () => void log.push(`disconnect ${id}`),
    send: async () => {
      log.push(`send ${id}`);
      if (failWith) throw failWith();
      return [];
    },
    sendBatch: async () => {
      log.push(`sendBatch ${id}`);
      return [];
    },
  } as unknown as Producer;
}

const protocolError = (type: string) =>
  Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type });

describe('renewingProducer', () => {
  it('given a write the brokers refuse for its sequence number, then it fails, and the next goes through a new producer', async () => {
    const log: string[] = [];
    const renewals: string[] = [];
    let made = 0;
    const producer = renewingProducer(
      () => {
        made++;
        return fakeProducer(
          made,
          log,
          made === 1 ? () => protocolError('OUT_OF_ORDER_SEQUENCE_NUMBER') : undefined,
        );
      },
      ({ reason }) => renewals.push(reason),
    );
    await producer.connect();
    await expect(producer.send({ topic: 't', messages: [] })).rejects.toThrow('OUT_OF_ORDER_SEQUENCE_NUMBER');
    await producer.send({ topic: 't', messages: [] });
    await producer.sendBatch({ topicMessages: [] });
    expect(renewals).toEqual(['OUT_OF_ORDER_SEQUENCE_NUMBER']);
    expect(log).toEqual(['connect 1', 'send 1', 'connect 2', 'disconnect 1', 'send 2', 'sendBatch 2']);
  });

  it('given the error wrapped by a retrier, then it still renews', async () => {
    const renewals: string[] = [];
    let made = 0;
    const producer = renewingProducer(
      () => {
        made++;
        return fakeProducer(made, [], () =>
          Object.assign(new Error('retries exhausted'), {
            originalError: protocolError('UNKNOWN_PRODUCER_ID'),
          }),
        );
      },
      ({ reason }) => renewals.push(reason),
    );
    await expect(producer.send({ topic: 't', messages: [] })).rejects.toThrow('retries exhausted');
    expect(renewals).toEqual(['UNKNOWN_PRODUCER_ID']);
  });

  it('given any other failure, then it keeps its producer', async () => {
    let made = 0;
    const producer = renewingProducer(
      () => {
        made++;
        return fakeProducer(made, [], () => protocolError('NOT_LEADER_FOR_PARTITION'));
      },
      () => undefined,
    );
    await expect(producer.send({ topic: 't', messages: [] })).rejects.toThrow('NOT_LEADER_FOR_PARTITION');
    expect(made).toBe(1);
  });
});

describe('renewingProducer, a send kafkajs reports done without every partition', () => {
  /** a producer that places its messages on partitions 0 and 1 in turn and acknowledges `written` */
  function placingProducer(written: number[]): Producer {
    return {
      sendBatch: async ({ topicMessages }: { topicMessages: { topic: string; messages: unknown[] }[] }) => {
        for (const t of topicMessages)
          for (let i = 0; i < t.messages.length; i++) notePartition(t.topic, i % 2);
        await Promise.resolve();
        return topicMessages.flatMap((t) =>
          written.map((partition) => ({ topicName: t.topic, partition, errorCode: 0 })),
        );
      },
    } as unknown as Producer;
  }

  it('given a partition that got messages but no acknowledgement, then the send fails and the producer is kept', async () => {
    const renewals: string[] = [];
    const producer = renewingProducer(
      () => placingProducer([0]),
      ({ reason }) => renewals.push(reason),
    );
    const error = await producer
      .sendBatch({ acks: -1, topicMessages: [{ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnwrittenPartitionsError);
    expect((error as UnwrittenPartitionsError).partitions).toEqual(['t/1']);
    expect(renewals).toEqual([]);
  });

  it('given every partition acknowledged, then the send resolves', async () => {
    const producer = renewingProducer(
      () => placingProducer([0, 1]),
      () => undefined,
    );
    await expect(
      producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] }],
      }),
    ).resolves.toHaveLength(2);
  });
});
