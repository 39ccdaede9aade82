import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Controller } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopicOf, messageSchema } from '@tcc/contracts';
import { currentTrace, formatTraceparent } from '@tcc/observability';
import { createTopic, readTopic, testKafka, uniqueName, waitFor } from '@tcc/testing';
import { PermanentError } from '../backoff';
import { BATCH_PATTERN } from './batch';
import type { BatchedMessage } from './batch';
import { connectKafkaConsumer } from './connect-consumer';
import { holdOffsetUntil } from './offset-holds';
import type { KafkaConsumerServer } from './kafka-consumer.server';
import type { KafkaMessageContext } from './kafka-message.context';

const pingSchema = messageSchema(
  'Test.Ping',
  z.object({
    n: z.int(),
    /** fail this many times (transiently) before succeeding */
    failTimes: z.int().optional(),
    permanent: z.boolean().optional(),
    /** the handler holds its offset until the test calls releaseHolds() (holdOffsetUntil) */
    held: z.boolean().optional(),
    slowMs: z.int().optional(),
    /** the batch handler stops before this message (it goes to the single-message handler) */
    notInBatch: z.boolean().optional(),
    /** the batch handler throws when this message is in its run */
    breaksBatch: z.boolean().optional(),
  }),
);
type Ping = z.infer<typeof pingSchema>;

interface Handled {
  via?: 'batch' | 'single';
  traceId?: string;
  key: string | null;
  n: number;
  partition: number;
  offset: string;
  correlationId: string;
}

const handled: Handled[] = [];
const started: number[] = [];
const failures = new Map<string, number>();
/** what the holds of `held` pings wait for */
let holdsReleased: Promise<void> = Promise.resolve();
let releaseHolds: () => void = () => undefined;

@Controller()
class PingController {
  @EventPattern('Test.Ping')
  async ping(@Payload() message: Ping, @Ctx() ctx: KafkaMessageContext): Promise<void> {
    const { n, failTimes = 0, permanent, held, slowMs } = message.payload;
    started.push(n);
    if (permanent) throw new PermanentError(`ping ${n} can never work`);
    const failed = failures.get(message.messageId) ?? 0;
    if (failed < failTimes) {
      failures.set(message.messageId, failed + 1);
      throw new Error(`transient failure ${failed + 1} of ping ${n}`);
    }
    if (slowMs) await sleep(slowMs);
    if (held) holdOffsetUntil(holdsReleased);
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

const maxAttempts = 3;

/** A consumer on a fresh topic (3 partitions) with its dead-letter topic, serving `controllers`. */
function consumerFixture(controllers: (new (...args: never[]) => unknown)[]) {
  const f = {} as {
    kafka: Kafka;
    admin: Admin;
    producer: Producer;
    app: INestApplication;
    server: KafkaConsumerServer;
    topic: string;
    groupId: string;
    /** sends made through the consumer's producer, which sends only dead letters */
    deadLetterAttempts: number;
    send(key: string, ...values: (Ping | string)[]): Promise<void>;
    committedOffset(partition: number | undefined): Promise<string | undefined>;
    committedEverything(): Promise<boolean>;
  };
  f.send = async (key, ...values) => {
    await f.producer.send({
      topic: f.topic,
      acks: -1,
      messages: values.map((value) => ({
        key,
        value: typeof value === 'string' ? value : JSON.stringify(value),
      })),
    });
  };
  f.committedOffset = async (partition) => {
    const [committed] = await f.admin.fetchOffsets({ groupId: f.groupId, topics: [f.topic] });
    return committed?.partitions.find((p) => p.partition === partition)?.offset;
  };
  f.committedEverything = async () => {
    const [committed] = await f.admin.fetchOffsets({ groupId: f.groupId, topics: [f.topic] });
    const ends = await f.admin.fetchTopicOffsets(f.topic);
    return ends.every((end) => {
      const c = committed?.partitions.find((p) => p.partition === end.partition);
      return end.high === '0' ? true : c?.offset === end.high;
    });
  };

  beforeEach(async () => {
    handled.length = 0;
    started.length = 0;
    failures.clear();
    holdsReleased = new Promise((resolve) => (releaseHolds = resolve));
    f.deadLetterAttempts = 0;
    f.kafka = testKafka();
    f.admin = f.kafka.admin();
    f.producer = f.kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await Promise.all([f.admin.connect(), f.producer.connect()]);
    f.topic = uniqueName('commands');
    f.groupId = uniqueName('group');
    await createTopic(f.admin, f.topic, 3);
    await createTopic(f.admin, deadLetterTopicOf(f.topic), 3);

    const moduleRef = await Test.createTestingModule({ controllers }).compile();
    // the services' HTTP platform (no HTTP is served here: the consumer is the app's microservice)
    f.app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
    f.server = connectKafkaConsumer(f.app, {
      kafka: f.kafka,
      producer: {
        ...f.producer,
        send: (record) => {
          f.deadLetterAttempts++;
          return f.producer.send(record);
        },
      },
      groupId: f.groupId,
      topics: [f.topic],
      schemas: { 'Test.Ping': pingSchema },
      partitionsConsumedConcurrently: 3,
      maxMessageBytes: 4_096,
      retry: { maxAttempts, initialDelayMs: 20, maxDelayMs: 100, factor: 2, jitter: 0.5 },
    });
    await f.app.startAllMicroservices();
    await f.app.init();
  });

  afterEach(async () => {
    releaseHolds();
    await f.server.close();
    await f.app.close();
    await Promise.all([f.producer.disconnect(), f.admin.disconnect()]);
  });
  return f;
}

describe('KafkaConsumerServer against a real broker', () => {
  const f = consumerFixture([PingController]);
  let kafka: Kafka;
  let admin: Admin;
  let server: KafkaConsumerServer;
  let topic: string;
  let groupId: string;
  const send = (key: string, value: Ping | string) => f.send(key, value);
  const committedEverything = () => f.committedEverything();

  beforeEach(() => {
    ({ kafka, admin, server, topic, groupId } = f);
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

  it('goes on past a message whose offset is held, and commits its partition once the hold resolves', async () => {
    await send('product-held', ping(1, { held: true }));
    await send('product-held', ping(2));
    await waitFor(() => handled.length === 2, { description: 'both pings handled while the first is held' });
    expect(handled.map((h) => h.n)).toEqual([1, 2]);
    // a message of another partition, handled and committed after ping 2: one commit request carries
    // every partition's newest mark, so ping 2's offset would have gone out with it
    const partition = handled[0]?.partition ?? 0;
    const other = (partition + 1) % 3;
    await f.producer.send({
      topic,
      acks: -1,
      messages: [{ partition: other, value: JSON.stringify(ping(3)) }],
    });
    await waitFor(async () => (await f.committedOffset(other)) === '1', {
      description: 'the other partition committed',
    });
    // nothing of the held partition, not even ping 2's offset
    expect(['-1', '0']).toContain(await f.committedOffset(partition));
    releaseHolds();
    await waitFor(committedEverything, { description: 'the partition committed once the hold resolved' });
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
    // while the partition waits with its offset just past the last message it finished. Three
    // failed writes, each tried again, gave the consumer as many chances to move on wrongly.
    await waitFor(() => f.deadLetterAttempts >= 4 || handled.length > 1, {
      description: 'three failed dead-letter writes, each tried again',
    });
    expect(await f.committedOffset(partition)).toBe('1');
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

const batches: number[][] = [];

/** Handles runs of pings in one go, except those marked notInBatch; fails on breaksBatch. */
@Controller()
class BatchPingController extends PingController {
  @EventPattern(BATCH_PATTERN)
  async batch(@Payload() messages: BatchedMessage<Ping>[]): Promise<number> {
    if (messages.some((m) => m.envelope.payload.breaksBatch)) throw new Error('this batch breaks');
    const taken = messages.findIndex((m) => m.envelope.payload.notInBatch);
    const run = taken === -1 ? messages : messages.slice(0, taken);
    batches.push(run.map((m) => m.envelope.payload.n));
    for (const m of run) {
      await m.within(() => {
        handled.push({
          via: 'batch',
          traceId: currentTrace()?.traceId,
          key: null,
          n: m.envelope.payload.n,
          partition: -1,
          offset: '',
          correlationId: m.envelope.correlationId,
        });
      });
    }
    return run.length;
  }
}

describe('KafkaConsumerServer with a batch handler', () => {
  const f = consumerFixture([BatchPingController]);
  beforeEach(() => {
    batches.length = 0;
  });
  const pings = (from: number, to: number, extra: (n: number) => Partial<Ping['payload']> = () => ({})) =>
    Array.from({ length: to - from + 1 }, (_, i) => ping(from + i, extra(from + i)));
  const order = () => handled.map((h) => h.n);

  it('hands runs of one partition to the batch handler, in order, each message once, and commits', async () => {
    await f.send('product-a', ...pings(1, 40));
    await waitFor(() => handled.length >= 40, { description: '40 pings handled' });
    expect(order()).toEqual(pings(1, 40).map((p) => p.payload.n));
    expect(batches.some((b) => b.length > 1)).toBe(true);
    await waitFor(f.committedEverything, { description: 'offsets committed to the end' });
  });

  it('sends the message the batch stops at to its own handler, then batches the rest', async () => {
    await f.send('product-b', ...pings(1, 12, (n) => (n === 5 ? { notInBatch: true } : {})));
    await waitFor(() => handled.length >= 12, { description: '12 pings handled' });
    expect(order()).toEqual(pings(1, 12).map((p) => p.payload.n));
    expect(handled.find((h) => h.n === 5)?.via).toBeUndefined(); // the single handler records no `via`
    expect(batches.flat()).not.toContain(5);
    await waitFor(f.committedEverything, { description: 'offsets committed to the end' });
  });

  it('after a failed batch handles its messages one by one, poison included, losing nothing', async () => {
    await f.send(
      'product-c',
      ...pings(1, 3),
      '{not json',
      ping(4, { breaksBatch: true }),
      ping(5, { failTimes: 1 }),
      ...pings(6, 8),
    );
    await waitFor(() => handled.length >= 8, { description: '8 pings handled' });
    expect(order()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const dead = await readTopic(f.kafka, deadLetterTopicOf(f.topic), (m) => m.length >= 1);
    expect(dead.map((d) => d.value)).toEqual(['{not json']);
    await waitFor(f.committedEverything, { description: 'offsets committed past the poison' });
  });

  it('merges the runs of the partitions fetched together into one batch, each partition in order', async () => {
    // each round is one produce request over the three partitions, so one fetch usually brings all
    // three; a fetch that brought them apart still handles every message, merely unmerged
    const byPartition = (n: number) => `partition-${n % 3}`;
    for (let round = 0; round < 5 && !batches.some((b) => spansPartitions(b)); round++) {
      const from = round * 30 + 1;
      const values = pings(from, from + 29).map((p) => ({ ...p, correlationId: byPartition(p.payload.n) }));
      await f.producer.send({
        topic: f.topic,
        acks: -1,
        messages: values.map((v) => ({ partition: v.payload.n % 3, value: JSON.stringify(v) })),
      });
      await waitFor(() => handled.length >= from + 29, { description: `round ${round + 1} handled` });
    }
    expect(batches.some((b) => spansPartitions(b))).toBe(true);
    for (let p = 0; p < 3; p++) {
      const ns = handled.filter((h) => h.correlationId === `partition-${p}`).map((h) => h.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(new Set(handled.map((h) => h.n)).size).toBe(handled.length);
    await waitFor(f.committedEverything, { description: 'offsets committed to the end' });

    function spansPartitions(batch: number[]): boolean {
      return new Set(batch.map((n) => n % 3)).size > 1;
    }
  });

  it('merges a run that stops in one partition with the others, offering those after it again', async () => {
    // partition 0 (3, 6, 9, 12) stops the batch at its second message; 1 and 2 still go through
    const values = pings(1, 12, (n) => (n === 6 ? { notInBatch: true } : {}));
    await f.producer.send({
      topic: f.topic,
      acks: -1,
      messages: values.map((v) => ({ partition: v.payload.n % 3, value: JSON.stringify(v) })),
    });
    await waitFor(() => handled.length >= 12, { description: '12 pings handled' });
    expect([...handled.map((h) => h.n)].sort((a, b) => a - b)).toEqual(values.map((v) => v.payload.n));
    expect(handled.find((h) => h.n === 6)?.via).toBeUndefined();
    for (let p = 0; p < 3; p++) {
      const ns = handled.filter((h) => h.n % 3 === p).map((h) => h.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    await waitFor(f.committedEverything, { description: 'offsets committed to the end' });
  });

  it("runs each batched message's work in its own trace and log context", async () => {
    const traceIds = ['a', 'b', 'c'].map((c) => c.repeat(32));
    await f.producer.send({
      topic: f.topic,
      acks: -1,
      messages: traceIds.map((traceId, i) => ({
        key: 'product-d',
        value: JSON.stringify(ping(i + 1)),
        headers: { traceparent: formatTraceparent({ traceId, spanId: '1'.repeat(16) }) },
      })),
    });
    await waitFor(() => handled.length >= 3, { description: '3 pings handled' });
    expect(handled.map((h) => h.traceId)).toEqual(traceIds);
  });
});
