import { backoffDelay, isRetriable, PermanentError } from './backoff';
import type { RetryPolicy } from './backoff';

const policy: RetryPolicy = {
  maxAttempts: 5,
  initialDelayMs: 100,
  maxDelayMs: 1_000,
  factor: 2,
  jitter: 0.5,
};

describe('backoffDelay', () => {
  it('grows exponentially from the initial delay', () => {
    const noJitter = () => 0;
    expect([1, 2, 3, 4].map((a) => backoffDelay(policy, a, noJitter))).toEqual([100, 200, 400, 800]);
  });

  it('never exceeds the cap', () => {
    expect(backoffDelay(policy, 30, () => 0)).toBe(1_000);
  });

  it('takes off at most the jitter share', () => {
    expect(backoffDelay(policy, 3, () => 1)).toBe(200);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(300);
  });
});

describe('isRetriable', () => {
  it('treats errors as transient unless they say otherwise', () => {
    expect(isRetriable(new Error('connection reset'))).toBe(true);
    expect(isRetriable(new PermanentError('bad message'))).toBe(false);
    expect(isRetriable({ retriable: false })).toBe(false);
    expect(isRetriable('a string')).toBe(true);
  });
});
