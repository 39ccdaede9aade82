/** Exponential backoff with full jitter and a cap (the scheme kafkajs itself uses for its retries). */
export interface RetryPolicy {
  /** attempts in all, the first one included; after the last one the message is dead-lettered */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0 = no jitter, 1 = delay drawn uniformly from [0, computed] */
  jitter: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 8,
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
};

/** Delay before attempt `attempt + 1`, given that `attempt` (1-based) just failed. */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponential = policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  const jitter = capped * policy.jitter * random();
  return Math.max(0, Math.round(capped - jitter));
}

/** Errors say whether trying again can help; anything that does not say is treated as transient. */
export class PermanentError extends Error {
  readonly retriable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isRetriable(error: unknown): boolean {
  if (typeof error === 'object' && error !== null && 'retriable' in error) {
    return error.retriable !== false;
  }
  return true;
}
