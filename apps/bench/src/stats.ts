/** Latency percentiles by nearest rank, in milliseconds. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentiles(samples: number[]): Percentiles {
  if (samples.length === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    count: sorted.length,
    p50: round(rank(50)),
    p95: round(rank(95)),
    p99: round(rank(99)),
    max: round(sorted[sorted.length - 1] ?? 0),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

/** When the i-th request of an open-loop run is due: a fixed rate, whatever earlier requests did. */
export function dueAt(startMs: number, ratePerSecond: number, i: number): number {
  return startMs + (i * 1_000) / ratePerSecond;
}

/**
 * Where the i-th request of an open-loop step goes: to each of `targets` in turn, so at a rate R
 * each of N targets gets R / N, as evenly spaced as the whole.
 */
export function roundRobin<T>(targets: readonly T[], i: number): T {
  const target = targets[i % targets.length];
  if (target === undefined) throw new Error('round robin over no targets');
  return target;
}

/** What the load knows of one order it sent. */
export interface SentOrder {
  /** when its POST /orders went (ms since the epoch) */
  sentAt: number;
  /** its id, once the service accepted it (202) */
  orderId?: string;
  /** the service refused it (any other answer), or the request failed */
  refused?: boolean;
  /** when it reached its final state: its last update in the order database (ms since the epoch) */
  finalAt?: number;
  /** its final state, CONFIRMED or CANCELLED */
  status?: string;
}

/** The orders of a step, or of the part of a step one instance took. */
export interface OrderCounts {
  sent: number;
  accepted: number;
  /** refused by the service (503 under overload, say) or failed on the way */
  rejected: number;
  final: number;
  confirmed: number;
  cancelled: number;
  /** accepted and not final when the step gave up following them */
  unfinished: number;
  /** from sending POST /orders to the final state, of the accepted orders that got there */
  latencyMs: Percentiles;
}

/** From sending an order to its final state, in ms (0 for an order not final). */
export function latencyOf(order: SentOrder): number {
  return Math.max(0, (order.finalAt ?? 0) - order.sentAt);
}

/** Counts and latency of some orders, in one pass (a step's may be a hundred thousand). */
export function tally(orders: readonly SentOrder[]): OrderCounts {
  let accepted = 0;
  let rejected = 0;
  let confirmed = 0;
  let cancelled = 0;
  let unfinished = 0;
  const latencies: number[] = [];
  for (const o of orders) {
    if (o.refused) rejected++;
    if (!o.orderId) continue;
    accepted++;
    if (o.finalAt === undefined) {
      unfinished++;
      continue;
    }
    latencies.push(latencyOf(o));
    if (o.status === 'CONFIRMED') confirmed++;
    else if (o.status === 'CANCELLED') cancelled++;
  }
  return {
    sent: orders.length,
    accepted,
    rejected,
    final: latencies.length,
    confirmed,
    cancelled,
    unfinished,
    latencyMs: percentiles(latencies),
  };
}
