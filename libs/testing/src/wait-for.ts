import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** what is being waited for, for the error message */
  description?: string;
}

/**
 * Polls `probe` until it returns something other than undefined/false without throwing, and
 * returns that. Tests wait for conditions this way, never with fixed sleeps.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100, description = 'condition' }: WaitForOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastValue = value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail =
        lastError instanceof Error ? `last error: ${lastError.message}` : `last value: ${String(lastValue)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (${detail})`);
    }
    await sleep(intervalMs);
  }
}

/** Whether `promise` is still unsettled after `ms` (one that settles sooner answers false then). */
export function stillPendingAfter(promise: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  const settled = (promise ?? Promise.resolve()).then(
    () => false,
    () => false,
  );
  return Promise.race([settled, elapsed]).finally(() => clearTimeout(timer));
}
