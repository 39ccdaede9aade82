import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import type { Admin, Kafka, Producer } from 'kafkajs';
import {
  allTopics,
  createMessage,
  DeadLetterHeaders,
  deadLetterTopicOf,
  Headers,
  Topics,
} from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import { createTopic, readTopic, testBrokers, testKafka, topicsCli, waitFor } from '@tcc/testing';

const cli = join(__dirname, '..', 'dist', 'main.js'); // for the --follow test, which needs the live process

describe('the topics CLI against a real broker', () => {
  const prefix = `cli-${randomBytes(3).toString('hex')}.`;
  const topic = (logical: string) => `${prefix}${logical}`;
  const orderId = randomUUID();
  const other = randomUUID();
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  async function publish(message: SagaMessage, key: string, target: string) {
    await producer.send({
      topic: topic(target),
      acks: -1,
      messages: [
        {
          key,
          value: JSON.stringify(message),
          headers: {
            [Headers.messageId]: message.messageId,
            [Headers.messageType]: message.type,
            [Headers.correlationId]: message.correlationId,
          },
        },
      ],
    });
  }

  const tryCommand = createMessage(
    'StockTry',
    {
      orderId,
      productId: 'keyboard',
      quantity: 1,
      deadline: new Date().toISOString(),
      holdUntil: new Date().toISOString(),
    },
    { correlationId: orderId },
  );

  beforeAll(async () => {
    kafka = testKafka('cli-test');
    admin = kafka.admin();
    producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await Promise.all([admin.connect(), producer.connect()]);
    for (const t of allTopics) await createTopic(admin, topic(t), 3);

    await publish(tryCommand, 'keyboard', Topics.stockCommands);
    await publish(
      createMessage('StockTry', { ...tryCommand.payload, orderId: other }, { correlationId: other }),
      'keyboard',
      Topics.stockCommands,
    );
    await publish(
      createMessage(
        'StockReserved',
        { orderId, productId: 'keyboard', quantity: 1, unitPrice: 900, expiresAt: new Date().toISOString() },
        { correlationId: orderId },
      ),
      orderId,
      Topics.orderReplies,
    );
    await publish(
      createMessage(
        'PaymentTry',
        {
          orderId,
          customerId: 'alice',
          amount: 900,
          deadline: new Date().toISOString(),
          holdUntil: new Date().toISOString(),
        },
        { correlationId: orderId },
      ),
      'alice',
      Topics.paymentCommands,
    );
    // a dead letter as the consumer transport writes it: original bytes, same key, reason in headers
    const dead = createMessage(
      'PaymentConfirm',
      { orderId, customerId: 'alice' },
      { correlationId: orderId },
    );
    await producer.send({
      topic: deadLetterTopicOf(topic(Topics.paymentCommands)),
      acks: -1,
      messages: [
        {
          key: 'alice',
          value: JSON.stringify(dead),
          headers: {
            [Headers.messageId]: dead.messageId,
            [Headers.correlationId]: orderId,
            [DeadLetterHeaders.originalTopic]: topic(Topics.paymentCommands),
            [DeadLetterHeaders.originalPartition]: '1',
            [DeadLetterHeaders.originalOffset]: '7',
            [DeadLetterHeaders.errorClass]: 'Error',
            [DeadLetterHeaders.errorMessage]: 'connection terminated',
            [DeadLetterHeaders.attempts]: '8',
            [DeadLetterHeaders.consumerGroup]: 'tcc-payment',
            [DeadLetterHeaders.deadLetteredAt]: new Date().toISOString(),
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  });

  it('list: every topic of the prefix with partitions, offsets and counts', async () => {
    const run = await topicsCli(prefix, 'list', '--json');
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const listed = JSON.parse(run.stdout) as { topic: string; messages: number; partitions: unknown[] }[];
    expect(listed.map((t) => t.topic).sort()).toEqual(allTopics.map(topic).sort());
    expect(listed.find((t) => t.topic === topic(Topics.stockCommands))).toMatchObject({ messages: 2 });
    expect(listed[0]?.partitions).toHaveLength(3);

    const human = await topicsCli(prefix, 'list');
    expect(human.stdout).toMatch(/^TOPIC\s+PARTITION\s+LOW\s+HIGH\s+MESSAGES$/m);
    expect(human.stdout).toMatch(/6 topic\(s\), 5 message\(s\)/);
  });

  it('groups: committed offsets and lag per partition', async () => {
    const groupId = `${prefix}reader`;
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic: topic(Topics.stockCommands), fromBeginning: true });
    let seen = 0;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic: t, partition, message }) => {
        seen++;
        // commit only the first message: the second stays as lag
        if (seen === 1)
          await consumer.commitOffsets([
            { topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() },
          ]);
      },
    });
    await waitFor(() => seen === 2, { description: 'both messages read' });
    await consumer.disconnect();

    const run = await topicsCli(prefix, 'groups', '--group', groupId, '--json');
    expect(run.code).toBe(0);
    const [group] = JSON.parse(run.stdout) as {
      group: string;
      lag: number;
      partitions: { committed: string | null; lag: number }[];
    }[];
    expect(group).toMatchObject({ group: groupId, lag: 1 });
    expect(group?.partitions.filter((p) => p.committed === '1')).toHaveLength(1);
  });

  it('peek and tail: messages decoded through the schemas, filtered by key, type or correlation id', async () => {
    const byType = await topicsCli(
      prefix,
      'peek',
      Topics.stockCommands,
      '--correlation-id',
      orderId,
      '--json',
    );
    expect(byType.code).toBe(0);
    const lines = byType.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      topic: topic(Topics.stockCommands),
      key: 'keyboard',
      type: 'StockTry',
      correlationId: orderId,
      payload: { productId: 'keyboard', quantity: 1 },
      problem: null,
    });

    const tail = await topicsCli(prefix, 'tail', Topics.stockCommands, '-n', '1');
    expect(tail.stdout).toContain(`StockTry  correlation=${other}`);
    expect(tail.stdout).toContain('1 message(s) of');
    const none = await topicsCli(prefix, 'peek', Topics.stockCommands, '--type', 'StockCancel');
    expect(none.stdout).toContain('0 message(s) of');
  });

  it('tail --follow prints messages as they arrive, until interrupted', async () => {
    const child = spawn(process.execPath, [cli, 'tail', Topics.orderReplies, '-f', '-n', '1', '--json'], {
      env: {
        PATH: process.env['PATH'] ?? '',
        KAFKA_BROKERS: testBrokers().join(','),
        KAFKA_TOPIC_PREFIX: prefix,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('StockReserved'), { description: 'the existing reply' });
    const late = randomUUID();
    // the follower may still be joining: keep publishing until one copy shows up
    await waitFor(
      async () => {
        await publish(
          createMessage(
            'StockCancelled',
            { orderId: late, productId: 'p', released: 0, emptyRollback: true },
            { correlationId: late },
          ),
          late,
          Topics.orderReplies,
        );
        return out.includes(late);
      },
      { intervalMs: 1_000, description: 'the new message to be printed' },
    );
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  it('trace: every message of one order across topics, dead letters included, in time order', async () => {
    const run = await topicsCli(prefix, 'trace', orderId, '--json');
    expect(run.code).toBe(0);
    const found = JSON.parse(run.stdout) as { type: string; topic: string }[];
    expect(found.map((m) => m.type)).toEqual(['StockTry', 'StockReserved', 'PaymentTry', 'PaymentConfirm']);
    expect(found[3]?.topic).toBe(deadLetterTopicOf(topic(Topics.paymentCommands)));

    const human = await topicsCli(prefix, 'trace', orderId);
    expect(human.stdout).toContain(`order ${orderId}: 4 message(s)`);
    expect(human.stdout).toMatch(/PaymentConfirm\s+DEAD LETTER Error: connection terminated/);
  });

  it('dead-letters: lists them with reason and coordinates, replays chosen ones with key and message id', async () => {
    const list = await topicsCli(prefix, 'dead-letters', '--json');
    const [letter] = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(letter).toMatchObject({
      key: 'alice',
      type: 'PaymentConfirm',
      from: `${topic(Topics.paymentCommands)}/1/7`,
      errorClass: 'Error',
      reason: 'connection terminated',
      attempts: 8,
    });

    const refused = await topicsCli(prefix, 'dead-letters', 'replay');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('needs confirmation');
    const nothing = await topicsCli(prefix, 'dead-letters', 'replay', '--key', 'bob', '--yes');
    expect(nothing.stdout).toContain('nothing replayed');

    const replay = await topicsCli(prefix, 'dead-letters', 'replay', '--error', 'Error', '--yes');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('replayed 1 message(s)');
    const back = await readTopic(kafka, topic(Topics.paymentCommands), (m) =>
      m.some((x) => x.headers['x-replayed-from'] !== undefined),
    );
    const replayed = back.find((m) => m.headers['x-replayed-from'] !== undefined);
    expect(replayed).toMatchObject({ key: 'alice' });
    expect(replayed?.headers[Headers.messageId]).toBe(letter?.['messageId']);
    expect(replayed?.headers['x-replayed-from']).toMatch(
      new RegExp(`^${deadLetterTopicOf(topic(Topics.paymentCommands)).replace(/\./g, '\\.')}/\\d+/0$`),
    );
    expect(Object.keys(replayed?.headers ?? {}).some((h) => h.startsWith('x-dlt-'))).toBe(false);
  });

  it('bad input: a clear message and a non-zero exit', async () => {
    expect(await topicsCli(prefix, 'peek', 'no.such.topic')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('unknown topic "no.such.topic"'),
    });
    expect(await topicsCli(prefix, 'peek')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('peek needs a topic'),
    });
    expect(await topicsCli(prefix, 'tail', Topics.stockCommands, '-n', 'many')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--limit takes a whole number'),
    });
    expect(await topicsCli(prefix, 'frobnicate')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown command "frobnicate"'),
    });
    expect(await topicsCli(prefix, 'list', '--bogus')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("Unknown option '--bogus'"),
    });
    expect(await topicsCli(prefix, 'dead-letters', '--topic', Topics.stockCommands)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('is not a dead-letter topic'),
    });
    const down = await topicsCli(prefix, 'list', '--brokers', '127.0.0.1:1');
    expect(down).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('cannot reach Kafka at 127.0.0.1:1'),
    });
  });
});
