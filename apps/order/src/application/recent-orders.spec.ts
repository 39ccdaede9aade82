import type { OrderStatus } from '../saga/order-saga';
import type { StoredOrder } from '../persistence/order-rows';
import { RecentOrders } from './recent-orders';

function order(orderId: string, status: OrderStatus = 'TRYING', version = 0): StoredOrder {
  return {
    state: {
      orderId,
      customerId: 'alice',
      status,
      reason: null,
      reasonDetail: null,
      lines: [],
      payment: 'NOT_TRIED',
      total: null,
      deadline: '2026-01-01T00:00:10.000Z',
      holdUntil: '2026-01-01T00:01:10.000Z',
    },
    version,
    retryCount: 0,
    createdAt: new Date(0),
    traceId: null,
    applied: [],
  };
}

describe('recent orders (the in-memory copy of the orders this instance wrote last)', () => {
  it('given an order remembered, when remembered again, then the newer copy is kept', () => {
    const recent = new RecentOrders();
    recent.remember(order('a', 'TRYING', 1));
    recent.remember(order('a', 'CONFIRMING', 2));
    expect(recent.get('a')?.version).toBe(2);
  });

  it('given an order that became final, then it leaves the memory', () => {
    const recent = new RecentOrders();
    recent.remember(order('a'));
    recent.remember(order('a', 'CANCELLED'));
    expect(recent.has('a')).toBe(false);
    recent.remember(order('b', 'CONFIRMED'));
    expect(recent.has('b')).toBe(false);
  });

  it('given a full memory, when one more is remembered, then the one written longest ago leaves', () => {
    const recent = new RecentOrders(2);
    recent.remember(order('a'));
    recent.remember(order('b'));
    recent.remember(order('a', 'CONFIRMING')); // written again: now the newest
    recent.remember(order('c'));
    expect([recent.has('a'), recent.has('b'), recent.has('c')]).toEqual([true, false, true]);
  });

  it('forgets an order on request (its next step reads it)', () => {
    const recent = new RecentOrders();
    recent.remember(order('a'));
    recent.forget('a');
    expect(recent.get('a')).toBeUndefined();
  });
});
