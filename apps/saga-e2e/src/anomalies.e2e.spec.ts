import { randomUUID } from 'node:crypto';
import { createMessage, Topics } from '@tcc/contracts';
import type { AnyEnvelope } from '@tcc/contracts';
import { waitFor } from '@tcc/testing';
import { TopicClient } from './support/kafka';
import { Stack } from './support/stack';

/**
 * The TCC anomalies, produced by publishing commands straight to the participants' topics, as
 * a duplicating, reordering or lost-and-retried network would deliver them.
 */
describe('TCC anomalies, straight on the topics', () => {
  let stack: Stack;
  let topics: TopicClient;

  beforeAll(async () => {
    stack = await Stack.start('anomalies');
    topics = new TopicClient();
    await topics.connect();
  });

  afterAll(async () => {
    await topics?.disconnect();
    await stack?.stop();
  });

  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();
  const stockTry = (orderId: string, productId: string, quantity = 1) =>
    createMessage(
      'StockTry',
      { orderId, productId, quantity, deadline: soon(30_000), holdUntil: soon(120_000) },
      { correlationId: orderId },
    );
  const stockCommand = (type: 'StockConfirm' | 'StockCancel', orderId: string, productId: string) =>
    createMessage(type, { orderId, productId }, { correlationId: orderId });
  const sendStock = (key: string, message: Parameters<TopicClient['send']>[2]) =>
    topics.send(stack.topic(Topics.stockCommands), key, message);
  const sendPayment = (key: string, message: Parameters<TopicClient['send']>[2]) =>
    topics.send(stack.topic(Topics.paymentCommands), key, message);
  const replies = (orderId: string, count: number) =>
    topics.envelopes(stack.topic(Topics.orderReplies), orderId, count);
  const summary = (envelopes: AnyEnvelope[]) =>
    envelopes.map((e) => {
      const p = e.payload as { reason?: string; emptyRollback?: boolean };
      return [e.type, p.reason, p.emptyRollback ? 'empty-rollback' : undefined].filter(Boolean).join(':');
    });

  it('duplicate try, confirm and cancel: no second effect, the same reply', async () => {
    const product = await stack.createProduct(5, 100);
    const orderId = randomUUID();
    const tried = stockTry(orderId, product, 2);
    await sendStock(product, tried);
    await sendStock(product, { ...tried, messageId: randomUUID() });
    await sendStock(product, stockCommand('StockConfirm', orderId, product));
    await sendStock(product, stockCommand('StockConfirm', orderId, product));
    await sendStock(product, stockCommand('StockCancel', orderId, product));
    await sendStock(product, stockCommand('StockCancel', orderId, product));
    const got = await replies(orderId, 6);
    expect(summary(got)).toEqual([
      'StockReserved',
      'StockReserved',
      'StockConfirmed',
      'StockConfirmed',
      'StockCancelRefused:CONFIRMED',
      'StockCancelRefused:CONFIRMED',
    ]);
    expect(got[1]?.messageId).toBe(got[0]?.messageId);
    expect(got[3]?.messageId).toBe(got[2]?.messageId);
    expect(await stack.product(product)).toMatchObject({ available: 3, reserved: 0, sold: 2 });
  });

  it('cancel before try succeeds and is remembered; the try after it is refused and nothing stays reserved', async () => {
    const product = await stack.createProduct(5, 100);
    const orderId = randomUUID();
    await sendStock(product, stockCommand('StockCancel', orderId, product));
    await sendStock(product, stockTry(orderId, product, 3));
    expect(summary(await replies(orderId, 2))).toEqual([
      'StockCancelled:empty-rollback',
      'StockRejected:ALREADY_CANCELLED',
    ]);
    expect(await stack.product(product)).toMatchObject({ available: 5, reserved: 0 });
  });

  it('confirm after cancel is refused', async () => {
    const product = await stack.createProduct(5, 100);
    const orderId = randomUUID();
    await sendStock(product, stockTry(orderId, product));
    await sendStock(product, stockCommand('StockCancel', orderId, product));
    await sendStock(product, stockCommand('StockConfirm', orderId, product));
    expect(summary(await replies(orderId, 3))).toEqual([
      'StockReserved',
      'StockCancelled',
      'StockConfirmRefused:CANCELLED',
    ]);
    expect(await stack.product(product)).toMatchObject({ available: 5, reserved: 0, sold: 0 });
  });

  it('payment: duplicates replay, an empty rollback is remembered, a hanging try refused', async () => {
    const customer = await stack.openWallet(1_000);
    const held = randomUUID();
    const hanging = randomUUID();
    const tryHold = (orderId: string) =>
      createMessage(
        'PaymentTry',
        { orderId, customerId: customer, amount: 300, deadline: soon(30_000), holdUntil: soon(120_000) },
        { correlationId: orderId },
      );
    const first = tryHold(held);
    await sendPayment(customer, first);
    await sendPayment(customer, { ...first, messageId: randomUUID() });
    await sendPayment(
      customer,
      createMessage('PaymentConfirm', { orderId: held, customerId: customer }, { correlationId: held }),
    );
    await sendPayment(
      customer,
      createMessage('PaymentCancel', { orderId: hanging, customerId: customer }, { correlationId: hanging }),
    );
    await sendPayment(customer, tryHold(hanging));
    expect(summary(await replies(held, 3))).toEqual(['PaymentHeld', 'PaymentHeld', 'PaymentCaptured']);
    expect(summary(await replies(hanging, 2))).toEqual([
      'PaymentReleased:empty-rollback',
      'PaymentRejected:ALREADY_CANCELLED',
    ]);
    expect(await stack.wallet(customer)).toMatchObject({ balance: 700, held: 0, captured: 300 });
  });

  it('no oversell even when commands for one product arrive on random keys (many partitions at once)', async () => {
    const product = await stack.createProduct(10, 100);
    const orders = Array.from({ length: 100 }, () => randomUUID());
    await Promise.all(orders.map((o) => sendStock(randomUUID(), stockTry(o, product))));
    await waitFor(
      async () => {
        const rows = await stack.query<{ count: string }>(
          'stock',
          'SELECT count(*) FROM reservations WHERE product_id = $1',
          [product],
        );
        return rows[0]?.count === '100';
      },
      { timeoutMs: 60_000, description: 'all 100 tries handled' },
    );
    const statuses = await stack.query<{ status: string; count: string }>(
      'stock',
      'SELECT status, count(*) FROM reservations WHERE product_id = $1 GROUP BY status ORDER BY status',
      [product],
    );
    expect(statuses).toEqual([
      { status: 'REJECTED', count: '90' },
      { status: 'RESERVED', count: '10' },
    ]);
    expect(await stack.product(product)).toMatchObject({ available: 0, reserved: 10 });
  });
});
