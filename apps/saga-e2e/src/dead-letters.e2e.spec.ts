import { randomUUID } from 'node:crypto';
import { createMessage, DeadLetterHeaders, deadLetterTopicOf, Topics } from '@tcc/contracts';
import { waitFor } from '@tcc/testing';
import { TopicClient } from './support/kafka';
import { Stack } from './support/stack';

/**
 * Messages that can never be handled go to `<topic>.dlt` with the reason, and the partition goes
 * on; a transient failure is retried in place and then succeeds without a dead letter.
 */
describe('failures while handling a message', () => {
  let stack: Stack;
  let topics: TopicClient;

  beforeAll(async () => {
    stack = await Stack.start('dlt', {
      env: { stock: { CONSUMER_RETRY_MAX_ATTEMPTS: '30', CONSUMER_RETRY_INITIAL_MS: '100' } },
    });
    topics = new TopicClient();
    await topics.connect();
  });

  afterAll(async () => {
    await topics?.disconnect();
    await stack?.stop();
  });

  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();
  const stockTry = (orderId: string, productId: string) =>
    createMessage(
      'StockTry',
      { orderId, productId, quantity: 1, deadline: soon(30_000), holdUntil: soon(120_000) },
      { correlationId: orderId },
    );

  it('poison messages land in the dead-letter topic with their headers, and the partition keeps going', async () => {
    const product = await stack.createProduct(5, 100);
    const commands = stack.topic(Topics.stockCommands);
    const invalid = {
      ...stockTry(randomUUID(), product),
      payload: { orderId: 'x', productId: product, quantity: -1 },
    };
    const unknown = { ...stockTry(randomUUID(), product), type: 'StockTeleport' };
    await topics.send(commands, product, '{"this is": not json');
    await topics.send(commands, product, JSON.stringify(invalid));
    await topics.send(commands, product, JSON.stringify(unknown));
    const good = randomUUID();
    await topics.send(commands, product, stockTry(good, product));

    const replies = await topics.envelopes(stack.topic(Topics.orderReplies), good, 1);
    expect(replies[0]?.type).toBe('StockReserved');
    const dead = await topics.read(
      deadLetterTopicOf(commands),
      (m) => m.filter((d) => d.key === product).length >= 3,
    );
    const mine = dead.filter((d) => d.key === product);
    expect(mine.map((d) => d.value)).toEqual([
      '{"this is": not json',
      JSON.stringify(invalid),
      JSON.stringify(unknown),
    ]);
    expect(mine.map((d) => d.headers[DeadLetterHeaders.errorClass])).toEqual([
      'PoisonMessageError',
      'PoisonMessageError',
      'UnknownMessageTypeError',
    ]);
    expect(mine[0]?.headers[DeadLetterHeaders.errorMessage]).toMatch(/not valid JSON/);
    expect(mine[1]?.headers[DeadLetterHeaders.errorMessage]).toMatch(/StockTry fails its schema/);
    for (const d of mine) {
      expect(d.headers).toMatchObject({
        [DeadLetterHeaders.originalTopic]: commands,
        [DeadLetterHeaders.consumerGroup]: `${stack.prefix}stock`,
        [DeadLetterHeaders.attempts]: '1',
      });
      expect(d.headers[DeadLetterHeaders.originalOffset]).toMatch(/^\d+$/);
      expect(d.headers[DeadLetterHeaders.originalPartition]).toMatch(/^\d+$/);
    }
    expect(await stack.product(product)).toMatchObject({ available: 4, reserved: 1 });
  });

  it('a transient database failure is retried with backoff, then succeeds without a dead letter', async () => {
    const product = await stack.createProduct(5, 100);
    const orderId = randomUUID();
    const stock = stack.processes.get('stock');
    const deadLetters = deadLetterTopicOf(stack.topic(Topics.stockCommands));
    const deadBefore = await topics.messageCount(deadLetters);
    await stack.query('stock', 'ALTER TABLE reservations RENAME TO reservations_away');
    try {
      await topics.send(stack.topic(Topics.stockCommands), product, stockTry(orderId, product));
      await waitFor(
        () =>
          stock
            ?.logs()
            .some((l) => l['msg'] === 'handler failed, retrying' && l['correlationId'] === orderId),
        { description: 'the first failed attempt' },
      );
    } finally {
      await stack.query('stock', 'ALTER TABLE reservations_away RENAME TO reservations');
    }
    const [reply] = await topics.envelopes(stack.topic(Topics.orderReplies), orderId, 1);
    expect(reply?.type).toBe('StockReserved');
    // the service writes its log in chunks (up to 50 ms): the reply can be on the topic first
    const recovered = await waitFor(
      () => stock?.logs().find((l) => l['msg'] === 'handled after retries' && l['correlationId'] === orderId),
      { description: 'the log line of the retried success' },
    );
    expect(recovered['attempts']).toBeGreaterThan(1);
    expect(await topics.messageCount(deadLetters)).toBe(deadBefore);
    expect(
      stock?.logs().some((l) => l['msg'] === 'message dead-lettered' && l['correlationId'] === orderId),
    ).toBe(false);
  });
});
