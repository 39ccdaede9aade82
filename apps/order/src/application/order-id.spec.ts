import { ids } from '@tcc/contracts';
import { newOrderId } from './order-id';

describe('newOrderId', () => {
  it('is a version 7 UUID that the contracts accept', () => {
    const id = newOrderId();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ids.orderId.safeParse(id).success).toBe(true);
  });

  it('starts with the time in milliseconds, so ids sort in the order they were made', () => {
    const at = Date.UTC(2026, 11, 1, 12, 0, 0, 123);
    const id = newOrderId(at);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
    const made = [at, at + 1, at + 1_000, at + 86_400_000].map((t) => newOrderId(t));
    expect([...made].sort()).toEqual(made);
  });

  it('differs in its random part for ids of the same millisecond', () => {
    const at = Date.now();
    const many = Array.from({ length: 10_000 }, () => newOrderId(at));
    expect(new Set(many).size).toBe(many.length);
  });
});
