import { setTimeout as sleep } from 'node:timers/promises';

export interface HttpAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

export interface RetryStats {
  /** attempts that got no answer (connection refused or reset, timeout) */
  noAnswer: number;
  /** attempts answered 5xx */
  serverErrors: number;
}

/**
 * POSTs until the server gives a real answer (anything but 5xx), as a client with an
 * Idempotency-Key may: while a service is killed or its database restarts there is no answer,
 * or a 5xx, and the same request (same key, same body) is simply sent again.
 */
export async function postUntilAnswered(
  url: string,
  body: string,
  headers: Record<string, string>,
  stats: RetryStats,
  giveUpMs = 180_000,
): Promise<HttpAnswer> {
  const deadline = Date.now() + giveUpMs;
  for (;;) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (res.status < 500) {
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: kept as text
        }
        return { status: res.status, body: parsed, headers: res.headers };
      }
      stats.serverErrors++;
    } catch {
      stats.noAnswer++;
    }
    if (Date.now() > deadline) throw new Error(`no answer from ${url} for ${giveUpMs / 1_000} s`);
    await sleep(250);
  }
}

/** GET as JSON, or undefined when there is no answer. */
export async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return res.status === 200 ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}
