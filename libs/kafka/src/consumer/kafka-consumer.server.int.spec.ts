import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Controller } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopicOf, messageSchema } from '@tcc/contracts';
import { createTopic, readTopic, testKafka, uniqueName, waitFor } from '@tcc/testing';
import { PermanentError } from '../backoff';
import { connectKafkaConsumer } from './connect-consumer';
import type { KafkaConsumerServer } from './kafka-consumer.server';
import type { KafkaMessageContext } from './kafka-message.context';

const pingSchema = messageSchema(
  'Test.Ping',
  z.object({
    n: z.int(),
    /** fail this many times (transiently) before succeeding */
    failTimes: z.int().optional(),
    permanent: z.boolean().optional(),
    slowMs: z.int().optional(),
  }),
);
type Ping = z.infer<typeof pingSchema>;

interface Handled {
  key: string | null;
  n: number;
  partition: number;
  offset: string;
  correlationId: string;
}

const handled: Handled[] = [];
const started: number[] = [];
const failures = new Map<string, number>();

@Controller()
class PingController {
  @EventPattern('Test.Ping')
  async ping(@Payload() message: Ping, @Ctx() ctx: KafkaMessageContext): Promise<void> {
    const { n, failTimes = 0, permanent, slowMs } = message.payload;
    started.push(n);
    if (permanent) throw new PermanentError(`ping ${n} can never work`);
    const failed = failures.get(message.messageId) ?? 0;
    if (failed < failTimes) {
      failures.set(message.messageId, failed + 1);
      throw new Error(`transient failure ${failed + 1} of ping ${n}`);
    }
    if (slowMs) await sleep(slowMs);
    handled.push({
      key: ctx.message.key?.toString() ?? null,
      n,
      partition: ctx.partition,
      offset: ctx.message.offset,
      correlationId: message.correlationId,
    });
  }
}

function ping(n: number, extra: Partial<Ping['payload']> = {}, correlationId = `order-${n}`): Ping {
  return {
    messageId: randomUUID(),
    type: 'Test.Ping',
    schemaVersion: 1,
    correlationId,
    causationId: null,
    occurredAt: new Date().toISOString(),
    payload: { n, ...extra },
  };
}

describe('KafkaConsumerServer against a real broker', () => {
  const maxAttempts = 3;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let app: INestApplication;
  let server: KafkaConsumerServer;
  let topic: string;
  let groupId: string;

  async function send(key: string, value: Ping | string): Promise<void> {
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key, value: typeof value === 'string' ? value : JSON.stringify(value) }],
    });
  }

  async function committedEverything(): Promise<boolean> {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    return ends.every((end) => {
      const c = committed?.partitions.find((p) => p.partition === end.partition);
      return end.high === '0' ? true : c?.offset === end.high;
    });
  }

  beforeEach(async () => {
    handled.length = 0;
    started.length = 0;
    failures.clear();
    kafka = testKafka();
    admin = kafka.admin();
    producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await Promise.all([admin.connect(), producer.connect()]);
    topic = uniqueName('commands');
    groupId = uniqueName('group');
    await createTopic(admin, topic, 3);
    await createTopic(admin, deadLetterTopicOf(topic), 3);

    const moduleRef = await Test.createTestingModule({ controllers: [PingController] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    server = connectKafkaConsumer(app, {
      kafka,
      producer,
      groupId,
      topics: [topic],
      schemas: { 'Test.Ping': pingSchema },
      partitionsConsumedConcurrently: 3,
      maxMessageBytes: 4_096,
      retry: { maxAttempts, initialDelayMs: 20, maxDelayMs: 100, factor: 2, jitter: 0.5 },
    });
    await app.startAllMicroservices();
    await app.init();
  });

  afterEach(async () => {
    await server.close();
    await app.close();
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  });

  it('handles each key in order and commits after each message', async () => {
    for (let n = 0; n < 30; n++) await send(`product-${n % 4}`, ping(n));
    await waitFor(() => handled.length === 30, { description: '30 pings handled' });
    for (let k = 0; k < 4; k++) {
      const ns = handled.filter((h) => h.key === `product-${k}`).map((h) => h.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
      expect(new Set(handled.filter((h) => h.key === `product-${k}`).map((h) => h.partition)).size).toBe(1);
    }
    await waitFor(committedEverything, { description: 'offsets committed to the end' });
  });

  it('dead-letters poison messages with their reason and keeps the partition going', async () => {
    const key = 'product-poison';
    await send(key, '{not json');
    await send(key, JSON.stringify({ ...ping(1), payload: { n: 'one' } }));
    await send(key, JSON.stringify({ ...ping(2), type: 'Test.Unknown' }));
    await send(key, ping(3, { permanent: true }));
    await send(key, JSON.stringify({ ...ping(5), padding: 'x'.repeat(5_000) }));
    await send(key, ping(4));

    await waitFor(() => handled.some((h) => h.n === 4), { description: 'the good message after the poison' });
    const dead = await readTopic(kafka, deadLetterTopicOf(topic), (m) => m.length >= 5);
    expect(dead).toHaveLength(5);
    const partition = handled.find((h) => h.n === 4)?.partition;
    expect(dead.map((d) => d.key)).toEqual([key, key, key, key, key]);
    expect(dead[0]?.value).toBe('{not json');
    expect(dead.map((d) => d.headers[DeadLetterHeaders.errorClass])).toEqual([
      'PoisonMessageError',
      'PoisonMessageError',
      'UnknownMessageTypeError',
      'PermanentError',
      'PoisonMessageError',
    ]);
    expect(dead[2]?.headers[DeadLetterHeaders.errorMessage]).toBe('unknown message type "Test.Unknown"');
    expect(dead[4]?.headers[DeadLetterHeaders.errorMessage]).toMatch(
      /^message is \d+ bytes, more than the 4096 allowed$/,
    );
    expect(handled.some((h) => h.n === 5)).toBe(false);
    for (const [i, d] of dead.entries()) {
      expect(d.headers).toMatchObject({
        [DeadLetterHeaders.originalTopic]: topic,
        [DeadLetterHeaders.originalPartition]: String(partition),
        [DeadLetterHeaders.originalOffset]: String(i),
        [DeadLetterHeaders.attempts]: '1',
        [DeadLetterHeaders.consumerGroup]: groupId,
      });
      expect(d.headers[DeadLetterHeaders.originalTimestamp]).toMatch(/^\d+$/);
      expect(d.headers[DeadLetterHeaders.errorStack]).toContain(d.headers[DeadLetterHeaders.errorClass]);
      expect(Date.parse(d.headers[DeadLetterHeaders.deadLetteredAt] ?? '')).not.toBeNaN();
    }
    await waitFor(committedEverything, { description: 'offsets committed past the poison' });
  });

  it('retries a transient failure in place and then succeeds without a dead letter', async () => {
    await send('product-flaky', ping(1, { failTimes: maxAttempts - 1 }));
    await send('product-flaky', ping(2));
    await waitFor(() => handled.length === 2, { description: 'both pings handled' });
    expect(handled.map((h) => h.n)).toEqual([1, 2]);
    const offsets = await admin.fetchTopicOffsets(deadLetterTopicOf(topic));
    expect(offsets.every((o) => o.high === '0')).toBe(true);
  });

  it('dead-letters a message whose retries ran out, saying how many attempts it had', async () => {
    await send('product-broken', ping(1, { failTimes: maxAttempts }));
    await send('product-broken', ping(2));
    await waitFor(() => handled.some((h) => h.n === 2), { description: 'the next message' });
    const [dead] = await readTopic(kafka, deadLetterTopicOf(topic), (m) => m.length >= 1);
    expect(dead?.headers).toMatchObject({
      [DeadLetterHeaders.errorClass]: 'Error',
      [DeadLetterHeaders.errorMessage]: `transient failure ${maxAttempts} of ping 1`,
      [DeadLetterHeaders.attempts]: String(maxAttempts),
    });
  });

  it('keeps a message uncommitted while its dead letter cannot be written, and writes it once it can', async () => {
    await admin.deleteTopics({ topics: [deadLetterTopicOf(topic)] });
    await send('product-dlt-down', ping(1));
    await waitFor(() => handled.some((h) => h.n === 1), { description: 'the partition to be consumed' });
    const partition = handled[0]?.partition;
    await send('product-dlt-down', '{not json');
    await send('product-dlt-down', ping(2));
    // the dead-letter topic is gone (and the broker creates none): the write fails and is retried,
    // while the partition waits with its offset just past the last message it finished
    await sleep(3_000);
    const [stuck] = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(stuck?.partitions.find((p) => p.partition === partition)?.offset).toBe('1');
    expect(handled.map((h) => h.n)).toEqual([1]);

    await createTopic(admin, deadLetterTopicOf(topic), 3);
    const dead = await readTopic(kafka, deadLetterTopicOf(topic), (m) => m.length >= 1, 60_000);
    expect(dead[0]).toMatchObject({ key: 'product-dlt-down', value: '{not json' });
    await waitFor(() => handled.some((h) => h.n === 2), {
      timeoutMs: 30_000,
      description: 'the message after it',
    });
    await waitFor(committedEverything, {
      timeoutMs: 30_000,
      description: 'the offset committed after the write',
    });
  });

  it('on close, finishes the message in hand and commits it before leaving', async () => {
    await send('product-slow', ping(1, { slowMs: 1_500 }));
    await waitFor(() => started.includes(1), { description: 'the slow handler to start' });
    expect(handled).toHaveLength(0);
    await server.close();
    expect(handled.map((h) => h.n)).toEqual([1]);
    expect(await committedEverything()).toBe(true);
  });
});
