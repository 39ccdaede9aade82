import { latencyAxis, latencyPlot, markdown } from './report';
import type { BenchResult, StepResult } from './report';
import { percentiles, tally } from './stats';
import type { SentOrder } from './stats';

function step(rate: number, latencies: number[]): StepResult {
  return {
    rate,
    startedAt: '2026-12-07T00:00:00.000Z',
    durationS: 60,
    sent: latencies.length,
    accepted: latencies.length,
    rejected: 0,
    final: latencies.length,
    confirmed: latencies.length,
    cancelled: 0,
    unfinished: 0,
    finalPerSecond: rate,
    latencyMs: percentiles(latencies),
    cpuMsPerOrder: {},
    timeline: latencies.map((l, i) => [i % 60, l]),
  };
}

function result(steps: StepResult[]): BenchResult {
  return {
    startedAt: '2026-12-07T00:00:00.000Z',
    machine: { cpus: 2, memoryGiB: 24, node: 'v22', postgresAutovacuum: 'off' },
    floors: { kafkaRoundTripMs: percentiles([4]), postgresCommitMs: percentiles([0.3]) },
    warmupS: 15,
    steps,
    maxRssMb: {},
    bestRateUnderP99Ms: { limitMs: 500, rate: null },
    invariants: { exitCode: 0, output: '' },
  };
}

/** The y coordinate of every dot drawn in `color`. */
function dotsOf(svg: string, color: string): number[] {
  return [...svg.matchAll(new RegExp(`cy="([\\d.]+)" r="1.4" fill="${color}"`, 'g'))].map((m) =>
    Number(m[1]),
  );
}

describe('latency axis', () => {
  it('spans whole decades around the latencies, with 1-2-5 ticks', () => {
    expect(latencyAxis(14, 650)).toEqual({ lo: 10, hi: 1_000, ticks: [10, 20, 50, 100, 200, 500, 1_000] });
    expect(latencyAxis(3, 22_601)).toMatchObject({ lo: 1, hi: 100_000 });
  });

  it('keeps at least one decade when every latency is alike, and never goes below 1 ms', () => {
    expect(latencyAxis(100, 100)).toMatchObject({ lo: 100, hi: 1_000 });
    expect(latencyAxis(0, 0.5)).toMatchObject({ lo: 1, hi: 10 });
  });
});

describe('latency plot', () => {
  it('keeps the steps under the knee readable beside one past it (log scale)', () => {
    // 20-100 ms at 300/s, seconds at 1000/s: on a linear axis up to 22 s the first would be one line
    const svg = latencyPlot(result([step(300, [20, 50, 100]), step(1000, [4_000, 22_000])]));
    const [at20, at50, at100] = dotsOf(svg, '#1f77b4');
    const plotHeight = 420 - 30 - 45;
    expect(at20! - at100!).toBeGreaterThan(plotHeight / 10); // linear: 80 / 22 000 of it, about 1 px
    expect(at20!).toBeGreaterThan(at50!); // slower is higher
    expect(svg).toContain('log scale');
    expect(svg).toContain('>100000</text>');
  });

  it('gives each of ten steps its own colour', () => {
    const rates = [60, 100, 200, 300, 400, 500, 600, 800, 1000, 1200];
    const svg = latencyPlot(result(rates.map((r) => step(r, [r / 10]))));
    const legend = [...svg.matchAll(/<rect x="\d+" y="\d+" width="10" height="10" fill="(#[0-9a-f]+)"/g)];
    expect(new Set(legend.map((m) => m[1])).size).toBe(10);
  });
});

describe('markdown report', () => {
  it('shows the orders the service refused (503 under overload) beside those it accepted', () => {
    const overloaded = { ...step(1000, [2_000, 3_000]), sent: 5, accepted: 2, rejected: 3 };
    expect(markdown(result([overloaded]))).toContain('| 1000/s | 60 s | 2 | 3 | 1000.0 | 2/0/0 |');
  });
});

describe('markdown report of several instances', () => {
  const final = (latencyMs: number): SentOrder => ({
    sentAt: 0,
    orderId: 'o',
    finalAt: latencyMs,
    status: 'CONFIRMED',
  });
  /** A step whose orders went to the two instances: the second refused one and answered slower. */
  function twoInstances(rate: number): StepResult {
    return {
      ...step(rate, [20, 30, 40, 200, 300]),
      sent: 6,
      rejected: 1,
      cpuMsPerOrder: {
        order: 6,
        stock: 2,
        'load generator': 0.5,
        'Kafka, PostgreSQL, rest': 4,
        machine: 12.5,
      },
      cpuMsPerOrderByInstance: { 'order 10.0.0.5:9464': 2.5, 'order 10.0.0.6:9464': 3.5, stock: 2 },
      instances: [
        { url: 'http://10.0.0.5:3000', ...tally([final(20), final(30), final(40)]) },
        { url: 'http://10.0.0.6:3000', ...tally([final(200), final(300), { sentAt: 0, refused: true }]) },
      ],
    };
  }

  it('adds the orders each order URL took, and the latency of those it accepted', () => {
    const report = markdown(result([twoInstances(100), twoInstances(200)]));
    expect(report).toContain(
      [
        '| rate | order URL | sent | accepted | refused or failed | unfinished | p50 ms | p99 ms |',
        '|---|---|---|---|---|---|---|---|',
        '| 100/s | http://10.0.0.5:3000 | 3 | 3 | 0 | 0 | 30 | 40 |',
        '| 100/s | http://10.0.0.6:3000 | 3 | 2 | 1 | 0 | 200 | 300 |',
        '| 200/s | http://10.0.0.5:3000 | 3 | 3 | 0 | 0 | 30 | 40 |',
        '| 200/s | http://10.0.0.6:3000 | 3 | 2 | 1 | 0 | 200 | 300 |',
      ].join('\n'),
    );
    // the whole run's table stays as it is, the instances summed
    expect(report).toContain('| 100/s | 60 s | 5 | 1 | 100.0 | 5/0/0 | 40 | 300 | 300 | 300 |');
  });

  it("adds each instance's CPU per order beside the services' sums", () => {
    const report = markdown(result([twoInstances(100)]));
    expect(report).toContain(
      '| rate | order | stock | load generator | Kafka, PostgreSQL, rest | machine |\n|---|---|---|---|---|---|\n| 100/s | 6 | 2 | 0.5 | 4 | 12.5 |',
    );
    expect(report).toContain(
      '| rate | order 10.0.0.5:9464 | order 10.0.0.6:9464 | stock |\n|---|---|---|---|\n| 100/s | 2.5 | 3.5 | 2 |',
    );
  });

  it('shows the largest RSS of each instance', () => {
    const run = {
      ...result([twoInstances(100)]),
      maxRssMb: { 'order 10.0.0.5:9464': 170, 'order 10.0.0.6:9464': 165 },
    };
    expect(markdown(run)).toContain(
      'Largest RSS seen: order 10.0.0.5:9464 170 MB, order 10.0.0.6:9464 165 MB.',
    );
  });

  it('adds nothing to the report of a run against one instance of each service', () => {
    const single = { ...step(100, [20, 30, 40]), cpuMsPerOrder: { order: 6, machine: 12 } };
    const report = markdown(result([single]));
    expect(report).not.toContain('order URL');
    expect(report).not.toContain('By instance');
    expect(report).toContain(
      '| 100/s | 60 s | 3 | 0 | 100.0 | 3/0/0 | 30 | 40 | 40 | 40 |\n\nCPU per final order',
    );
  });
});
