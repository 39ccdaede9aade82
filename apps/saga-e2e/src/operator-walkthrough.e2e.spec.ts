import { Topics } from '@tcc/contracts';
import { waitFor } from '@tcc/testing';
import { topicsCli } from './support/kafka';
import { Stack } from './support/stack';

/**
 * The README's walkthrough for operators, step by step: place an order, watch its saga trace,
 * break a message on purpose, find it among the dead letters, replay it, see the order finish.
 */
describe('operator walkthrough: trace, dead letter, replay', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start('walkthrough', {
      env: {
        order: { ORDER_TRY_TIMEOUT_MS: '120000' },
        stock: { CONSUMER_RETRY_MAX_ATTEMPTS: '3', CONSUMER_RETRY_INITIAL_MS: '50' },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('follows a saga, repairs a dead-lettered command and lets the order finish', async () => {
    const product = await stack.createProduct(10, 1_500);
    const customer = await stack.openWallet(10_000);
    const lines = [{ productId: product, quantity: 1 }];

    // 1. place an order and watch its saga trace
    const first = await stack.placeOrder({ customerId: customer, lines });
    expect(await stack.finalOrder(first.body.id)).toMatchObject({ status: 'CONFIRMED' });
    const trace = await topicsCli(stack.prefix, 'trace', first.body.id);
    expect(trace.code).toBe(0);
    for (const type of [
      'StockTry',
      'StockReserved',
      'PaymentTry',
      'PaymentHeld',
      'StockConfirm',
      'PaymentConfirm',
      'StockConfirmed',
      'PaymentCaptured',
    ]) {
      expect(trace.stdout).toContain(type);
    }

    // 2. break a message on purpose: stock's table is gone while the next order's try arrives
    await stack.query('stock', 'ALTER TABLE reservations RENAME TO reservations_away');
    const second = await stack.placeOrder({ customerId: customer, lines });
    let deadLetter:
      { at: string; errorClass: string; reason: string; attempts: number; correlationId: string } | undefined;
    try {
      // 3. find it among the dead letters
      deadLetter = await waitFor(
        async () => {
          const list = await topicsCli(stack.prefix, 'dead-letters', '--json');
          const letters = JSON.parse(list.stdout || '[]') as NonNullable<typeof deadLetter>[];
          return letters.find((l) => l.correlationId === second.body.id);
        },
        { timeoutMs: 60_000, intervalMs: 500, description: 'the try to be dead-lettered' },
      );
    } finally {
      await stack.query('stock', 'ALTER TABLE reservations_away RENAME TO reservations');
    }
    expect(deadLetter).toMatchObject({ errorClass: 'QueryFailedError', attempts: 3 });
    expect(deadLetter?.reason).toContain('relation "reservations" does not exist');
    expect((await stack.order(second.body.id)).status).toBe('TRYING');

    // 4. replay it (the fix is in), and 5. see the order finish
    const [dltTopic, partition, offset] = (deadLetter?.at ?? '').split('/');
    const replay = await topicsCli(
      stack.prefix,
      'dead-letters',
      'replay',
      '--topic',
      dltTopic ?? '',
      '--partition',
      partition ?? '',
      '--offsets',
      offset ?? '',
      '--yes',
    );
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('replayed 1 message(s)');
    expect(await stack.finalOrder(second.body.id)).toMatchObject({ status: 'CONFIRMED' });

    // replaying twice is safe: the consumers de-duplicate, nothing is sold twice
    const again = await topicsCli(
      stack.prefix,
      'dead-letters',
      'replay',
      '--topic',
      dltTopic ?? '',
      '--offsets',
      offset ?? '',
      '--yes',
    );
    expect(again.code).toBe(0);
    const afterTrace = await topicsCli(stack.prefix, 'trace', second.body.id, '--json');
    const messages = JSON.parse(afterTrace.stdout) as { topic: string; headers: Record<string, string> }[];
    expect(messages.filter((m) => m.topic.endsWith(`${Topics.stockCommands}.dlt`))).toHaveLength(1);
    expect(messages.filter((m) => m.headers['x-replayed-from'] !== undefined)).toHaveLength(2);
    await waitFor(async () => (await stack.product(product)).reserved === 0, {
      description: 'stock to settle',
    });
    expect(await stack.product(product)).toMatchObject({ available: 8, reserved: 0, sold: 2 });
    expect(await stack.wallet(customer)).toMatchObject({ balance: 7_000, captured: 3_000 });
  });
});
