import { capacityNote, formatFailover, judge, takeoverOf, windowStats } from './report';
import type { FailoverSummary, OrderOutcome } from './report';

const order = (
  sentAt: number,
  latency: number,
  status = 'CONFIRMED',
  reason: string | null = null,
): OrderOutcome => ({
  sentAt,
  instance: 0,
  status,
  reason,
  finalAt: sentAt + latency,
});

describe('windowStats', () => {
  it('takes the orders first sent in [from, to), and their latency percentiles', () => {
    const orders = [
      order(999, 5),
      ...Array.from({ length: 100 }, (_, i) => order(1_000 + i, i + 1)),
      order(1_100, 7),
    ];
    const w = windowStats(orders, 1_000, 1_100);
    expect(w).toEqual({
      orders: 100,
      confirmed: 100,
      timeouts: 0,
      otherCancellations: 0,
      unfinished: 0,
      p50: 50,
      p99: 99,
      max: 100,
    });
  });

  it('counts TIMEOUT apart from other cancellations, and orders not final (or missing) as unfinished', () => {
    const w = windowStats(
      [
        order(0, 10, 'CANCELLED', 'TIMEOUT'),
        order(1, 10, 'CANCELLED', 'OUT_OF_STOCK'),
        order(2, 0, 'TRYING'),
        order(3, 0, 'MISSING'),
        order(4, 30),
      ],
      0,
      10,
    );
    expect(w).toMatchObject({
      orders: 5,
      confirmed: 1,
      timeouts: 1,
      otherCancellations: 1,
      unfinished: 2,
      max: 30,
    });
  });

  it('has no latency without final orders', () => {
    expect(windowStats([], 0, 10)).toMatchObject({
      orders: 0,
      p50: undefined,
      p99: undefined,
      max: undefined,
    });
  });
});

describe('takeoverOf', () => {
  const p = (partition: number, ms: number | undefined) => ({ group: 'g', topic: 't', partition, ms });

  it('is the slowest partition, with the median', () => {
    expect(takeoverOf([p(0, 7_000), p(1, 7_400), p(2, 6_900)])).toEqual({
      maxMs: 7_400,
      medianMs: 7_000,
      stuck: [],
    });
  });

  it('names the partitions that never moved, and then has no maximum', () => {
    expect(takeoverOf([p(0, 7_000), p(1, undefined)])).toEqual({
      maxMs: undefined,
      medianMs: 7_000,
      stuck: ['t/1'],
    });
  });
});

/** A run that passed: every order confirmed, the one fault taken over. */
const fine = windowStats([order(0, 10)], 0, 1);
const base: Omit<FailoverSummary, 'failures' | 'ok'> = {
  seed: 1,
  repeat: './dev failover --seed 1',
  startedAt: '',
  wallSeconds: 1,
  rate: 100,
  tryTimeoutMs: 20_000,
  topology: '',
  load: { sent: 1, accepted: 1, noAnswer: 0, serverErrors: 0, unexpected: [] },
  baseline: fine,
  faults: [
    {
      kind: 'order',
      victim: 'order#1 (SIGKILL)',
      killedAt: 0,
      recoveredAt: 1,
      takeovers: [{ group: 'g', topic: 't', partition: 0, ms: 7_000 }],
      window: fine,
      takeover: { maxMs: 7_000, medianMs: 7_000, stuck: [] },
    },
  ],
  total: fine,
  perInstance: [fine],
  unexpectedExits: [],
  quiet: { reached: true, detail: '' },
  invariants: { exitCode: 0, failed: [] },
};

describe('judge', () => {
  it('passes a run where every order was confirmed and every partition taken over', () => {
    expect(judge(base)).toEqual([]);
  });

  it('fails on orders cancelled by TIMEOUT, a partition never taken over, and a failed invariant', () => {
    const failures = judge({
      ...base,
      total: { ...fine, timeouts: 3 },
      faults: base.faults.map((f) => ({
        ...f,
        takeover: { maxMs: undefined, medianMs: undefined, stuck: ['t/0'] },
      })),
      invariants: { exitCode: 1, failed: ['2 stock conserved: 1 violations'] },
    });
    expect(failures).toEqual([
      '3 orders were cancelled by TIMEOUT',
      'order#1 (SIGKILL): no message handled after it on t/0',
      'invariant checker exit 1: 2 stock conserved: 1 violations',
    ]);
  });
});

describe('capacityNote', () => {
  const baseline = (latencies: number[], status = 'CONFIRMED', reason: string | null = null) =>
    windowStats(
      latencies.map((l, i) => order(i, l, status, reason)),
      0,
      latencies.length,
    );

  it('says nothing while the p99 before any fault is within half the try deadline', () => {
    expect(capacityNote({ rate: 15, tryTimeoutMs: 20_000, baseline: baseline([100, 9_000, 10_000]) })).toBe(
      undefined,
    );
  });

  it('says the machine did not carry the rate when its p99 before any fault was past half the deadline', () => {
    expect(capacityNote({ rate: 100, tryTimeoutMs: 20_000, baseline: baseline([100, 10_001]) })).toBe(
      'this machine did not carry 100 orders/s: p99 was 10.0 s before any fault, against a try deadline ' +
        'of 20 s, so a takeover of several seconds has no room; a lower --rate measures the failover ' +
        'rather than the machine',
    );
  });

  it('says so when orders were cancelled by TIMEOUT before any fault, and the report prints it', () => {
    const note = capacityNote({
      rate: 100,
      tryTimeoutMs: 20_000,
      baseline: baseline([20_000], 'CANCELLED', 'TIMEOUT'),
    });
    expect(note).toContain('1 orders were cancelled by TIMEOUT before any fault');
    const report = formatFailover({
      ...base,
      baseline: baseline([20_000], 'CANCELLED', 'TIMEOUT'),
      failures: ['1 orders were cancelled by TIMEOUT'],
      ok: false,
    });
    expect(report).toContain(`NOTE: ${note}.`);
  });
});
