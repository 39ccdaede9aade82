import { sagaDeadlines } from './deadlines';

describe('saga deadlines', () => {
  it('given the timeouts, an order placed now must be tried by now + the try timeout, and held a confirm window longer', () => {
    const placedAt = Date.parse('2026-01-01T00:00:00.000Z');
    expect(sagaDeadlines(placedAt, { tryTimeoutMs: 10_000, confirmWindowMs: 120_000 })).toEqual({
      deadline: new Date('2026-01-01T00:00:10.000Z'),
      holdUntil: new Date('2026-01-01T00:02:10.000Z'),
    });
  });
});
