import type { OrderReply } from '@tcc/contracts';
import { deadlinePassed, given, held, reply, reserved } from '../../test/saga-fixtures';
import type { StoredOrder } from '../persistence/order-rows';
import { stepOrder } from './saga-step';

describe('one saga step applied to a stored order', () => {
  const policy = { retryInitialMs: 1_000, retryMaxMs: 8_000 };
  const createdAt = new Date('2026-01-01T00:00:00.000Z');
  const now = createdAt.getTime() + 2_500;
  const stored = (state = given([['keyboard', 1]]).state, retryCount = 0): StoredOrder => ({
    state,
    version: 3,
    retryCount,
    createdAt,
    traceId: null,
    applied: ['earlier-reply'],
  });

  it('given a reply, then the order one version up with the reply among the applied ones', () => {
    const r = reserved('keyboard', 10) as OrderReply;
    const stepped = stepOrder(stored(), r, r, policy, now);
    expect(stepped.next.version).toBe(4);
    expect(stepped.next.applied).toEqual(['earlier-reply', r.messageId]);
    expect(stepped.appliedId).toBe(r.messageId);
    expect(stepped.before.version).toBe(3); // the write is guarded by the version read
  });

  it('the commands become messages of the order, caused by the reply', () => {
    const r = reserved('keyboard', 10) as OrderReply;
    const { messages } = stepOrder(stored(), r, r, policy, now);
    expect(messages.map((m) => [m.type, m.correlationId, m.causationId])).toEqual([
      ['PaymentTry', stored().state.orderId, r.messageId],
    ]);
  });

  it('entering CONFIRMING schedules the first re-send and counts from zero', () => {
    const trying = given([['keyboard', 1]], reserved('keyboard', 10)).state;
    const r = held(10) as OrderReply;
    const stepped = stepOrder(stored(trying, 4), r, r, policy, now);
    expect(stepped.entered).toBe(true);
    expect(stepped.retry).toEqual({ at: new Date(now + 1_000), count: 0 });
    expect(stepped.next.retryCount).toBe(0);
  });

  it('a deadline applies no reply id', () => {
    const stepped = stepOrder(stored(), deadlinePassed, null, policy, now);
    expect(stepped.next.state.status).toBe('CANCELLING');
    expect(stepped.appliedId).toBeNull();
    expect(stepped.next.applied).toEqual(['earlier-reply']);
    expect(stepped.messages.every((m) => m.causationId === null)).toBe(true);
  });

  it('a step that ends the order says how long its saga took', () => {
    const r = reply('StockRejected', { productId: 'keyboard', reason: 'OUT_OF_STOCK' }) as OrderReply;
    const stepped = stepOrder(stored(), r, r, policy, now);
    expect(stepped.finished).toEqual([{ status: 'CANCELLED', reason: 'OUT_OF_STOCK', seconds: 2.5 }]);
    expect(stepped.retry).toEqual({ at: null, count: 0 });
  });
});
