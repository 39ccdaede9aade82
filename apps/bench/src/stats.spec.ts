import { dueAt, percentiles, roundRobin, tally } from './stats';
import type { SentOrder } from './stats';

describe('percentiles', () => {
  it('uses the nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(samples)).toEqual({ count: 100, p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
  });

  it('handles one sample and none', () => {
    expect(percentiles([7])).toMatchObject({ p50: 7, p99: 7, max: 7 });
    expect(percentiles([])).toMatchObject({ count: 0, p99: 0 });
  });
});

describe('open-loop schedule', () => {
  it('spaces requests evenly at the rate, independent of responses', () => {
    expect([0, 1, 2, 300].map((i) => dueAt(1_000, 300, i))).toEqual([
      1_000,
      1_000 + 1_000 / 300,
      1_000 + 2_000 / 300,
      2_000,
    ]);
  });
});

describe('round robin over the order service instances', () => {
  const urls = ['http://a:3000', 'http://b:3000', 'http://c:3000'];

  it('sends each order of a step to the next instance, starting over after the last', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => roundRobin(urls, i))).toEqual([
      'http://a:3000',
      'http://b:3000',
      'http://c:3000',
      'http://a:3000',
      'http://b:3000',
      'http://c:3000',
      'http://a:3000',
    ]);
    expect([0, 1, 2].map((i) => roundRobin(['http://only:3000'], i))).toEqual(
      Array(3).fill('http://only:3000'),
    );
  });

  it('gives each of N instances rate / N, as evenly spaced as the whole', () => {
    const at300: Record<string, number[]> = {};
    for (let i = 0; i < 300; i++) (at300[roundRobin(urls, i)] ??= []).push(dueAt(0, 300, i));
    for (const url of urls) {
      const due = at300[url] ?? [];
      expect(due).toHaveLength(100); // 100/s each for one second at 300/s
      for (let k = 1; k < due.length; k++) expect((due[k] ?? 0) - (due[k - 1] ?? 0)).toBeCloseTo(10);
    }
  });

  it('refuses to spread over no instance at all', () => {
    expect(() => roundRobin([], 0)).toThrow('round robin over no targets');
  });
});

describe('tally of the orders sent', () => {
  it('counts the refused, the accepted, how they ended, and the latency of those final', () => {
    const orders: SentOrder[] = [
      { sentAt: 1_000, orderId: 'o1', finalAt: 1_040, status: 'CONFIRMED' },
      { sentAt: 1_010, orderId: 'o2', finalAt: 1_110, status: 'CANCELLED' },
      { sentAt: 1_020, orderId: 'o3' }, // accepted, never final
      { sentAt: 1_030, refused: true },
      { sentAt: 1_040, orderId: 'o4', finalAt: 1_060, status: 'CONFIRMED' },
    ];
    expect(tally(orders)).toEqual({
      sent: 5,
      accepted: 4,
      rejected: 1,
      final: 3,
      confirmed: 2,
      cancelled: 1,
      unfinished: 1,
      latencyMs: percentiles([40, 100, 20]),
    });
    expect(tally([])).toMatchObject({ sent: 0, accepted: 0, rejected: 0, latencyMs: { count: 0 } });
  });
});
