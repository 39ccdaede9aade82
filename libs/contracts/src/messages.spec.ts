import { randomUUID } from 'node:crypto';
import { Topics } from './topics';
import { createMessage, routeOf } from './routing';
import { orderReplies, paymentCommands, stockCommands, StockTry } from './messages';

const orderId = randomUUID();

describe('saga messages', () => {
  it('builds an envelope that passes its own schema', () => {
    const message = createMessage(
      'StockTry',
      {
        orderId,
        productId: 'p-1',
        quantity: 2,
        deadline: '2026-01-01T00:00:05.000Z',
        holdUntil: '2026-01-01T00:01:00.000Z',
      },
      { correlationId: orderId, now: new Date('2026-01-01T00:00:00Z') },
    );
    expect(StockTry.parse(message)).toEqual(message);
    expect(message).toMatchObject({
      schemaVersion: 1,
      causationId: null,
      occurredAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('rejects a payload that breaks the schema', () => {
    const bad = {
      ...createMessage('StockConfirm', { orderId, productId: 'p-1' }, { correlationId: orderId }),
    };
    expect(
      stockCommands.StockConfirm.safeParse({ ...bad, payload: { orderId: 'nope', productId: 'p-1' } })
        .success,
    ).toBe(false);
    expect(stockCommands.StockConfirm.safeParse({ ...bad, type: 'StockCancel' }).success).toBe(false);
  });

  it('keys stock commands by product, payment commands by customer and replies by order', () => {
    const ctx = { correlationId: orderId };
    expect(routeOf(createMessage('StockCancel', { orderId, productId: 'p-9' }, ctx))).toEqual({
      topic: Topics.stockCommands,
      key: 'p-9',
    });
    expect(routeOf(createMessage('PaymentConfirm', { orderId, customerId: 'c-1' }, ctx))).toEqual({
      topic: Topics.paymentCommands,
      key: 'c-1',
    });
    expect(
      routeOf(
        createMessage('PaymentRejected', { orderId, customerId: 'c-1', reason: 'INSUFFICIENT_FUNDS' }, ctx),
      ),
    ).toEqual({ topic: Topics.orderReplies, key: orderId });
  });

  it('has one registry entry per type, named after the type', () => {
    for (const registry of [stockCommands, paymentCommands, orderReplies]) {
      for (const [type, schema] of Object.entries(registry)) expect(schema.shape.type.value).toBe(type);
    }
    expect(Object.keys(orderReplies)).toHaveLength(18);
  });
});
