import { dueAt, percentiles } from './stats';

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
