import { nextRetry } from './retry-policy';
import type { RetryStep } from './retry-policy';

/* When confirms and cancels are sent again, given the step the order took. */

describe('retry policy: re-sending confirms and cancels', () => {
  const policy = { retryInitialMs: 1_000, retryMaxMs: 5_000 };
  const now = Date.parse('2026-01-01T00:00:00.000Z');
  const at = (ms: number) => new Date(now + ms);
  const within = (status: RetryStep['to'], event: RetryStep['event'], count: number): RetryStep => ({
    from: status,
    to: status,
    event,
    count,
    now,
  });

  it('entering CONFIRMING: the first re-send after the initial wait, none counted yet', () => {
    expect(
      nextRetry({ from: 'TRYING', to: 'CONFIRMING', event: 'PaymentHeld', count: 0, now }, policy),
    ).toEqual({
      at: at(1_000),
      count: 0,
    });
  });

  it('entering CANCELLING, also from CONFIRMING: the count starts again', () => {
    const step: RetryStep = {
      from: 'CONFIRMING',
      to: 'CANCELLING',
      event: 'StockConfirmRefused',
      count: 3,
      now,
    };
    expect(nextRetry(step, policy)).toEqual({ at: at(1_000), count: 0 });
  });

  it('each re-send doubles the wait for the next, up to the maximum', () => {
    expect(nextRetry(within('CONFIRMING', 'RetryDue', 0), policy)).toEqual({ at: at(2_000), count: 1 });
    expect(nextRetry(within('CONFIRMING', 'RetryDue', 1), policy)).toEqual({ at: at(4_000), count: 2 });
    expect(nextRetry(within('CANCELLING', 'RetryDue', 2), policy)).toEqual({ at: at(5_000), count: 3 });
    expect(nextRetry(within('CANCELLING', 'RetryDue', 30), policy)).toEqual({ at: at(5_000), count: 31 });
  });

  it('a reply within the phase keeps the re-send the order has', () => {
    expect(nextRetry(within('CONFIRMING', 'StockConfirmed', 2), policy)).toBe('keep');
  });

  it('outside a phase that re-sends (trying, or over), no re-send', () => {
    expect(nextRetry(within('TRYING', 'StockReserved', 0), policy)).toEqual({ at: null, count: 0 });
    const confirmed: RetryStep = {
      from: 'CONFIRMING',
      to: 'CONFIRMED',
      event: 'PaymentCaptured',
      count: 2,
      now,
    };
    expect(nextRetry(confirmed, policy)).toEqual({ at: null, count: 0 });
    const cancelled: RetryStep = { from: 'TRYING', to: 'CANCELLED', event: 'StockRejected', count: 0, now };
    expect(nextRetry(cancelled, policy)).toEqual({ at: null, count: 0 });
  });
});
