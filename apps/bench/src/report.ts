import type { OrderCounts, Percentiles } from './stats';

/** The orders one order service instance (one --order-url) took during a step. */
export interface InstanceResult extends OrderCounts {
  url: string;
}

export interface StepResult extends OrderCounts {
  rate: number;
  /** when the step's first order was sent (ISO 8601), to line it up with logs and other samples */
  startedAt: string;
  durationS: number;
  /** orders that reached a final state per second of the step */
  finalPerSecond: number;
  /**
   * CPU ms per final order, by who spent it: each service (all its instances), the load
   * generator, 'Kafka, PostgreSQL, rest' (the machine minus those) and 'machine' (everything).
   * 2 cores give 2000 ms per second, so 2000 / machine is the rate this machine could sustain at
   * that cost.
   */
  cpuMsPerOrder: Record<string, number>;
  /**
   * Where a service runs several instances: CPU ms of each instance over all the step's orders
   * (a service's instances add up to its figure in cpuMsPerOrder), by instance name
   */
  cpuMsPerOrderByInstance?: Record<string, number>;
  /** the largest RSS (MB) of each instance sampled during this step, by instance name */
  maxRssMb?: Record<string, number>;
  /** where orders went to several order service instances: the orders each took, in --order-url order */
  instances?: InstanceResult[];
  /** (seconds since step start, latency ms) of every final order, for the plot */
  timeline: [number, number][];
}

export interface BenchResult {
  startedAt: string;
  machine: { cpus: number; memoryGiB: number; node: string; postgresAutovacuum: string };
  floors: { kafkaRoundTripMs: Percentiles; postgresCommitMs: Percentiles };
  /** seconds of load at the first rate before the steps, not reported */
  warmupS: number;
  steps: StepResult[];
  /** the largest RSS (MB) of each instance over the whole load, by instance name */
  maxRssMb: Record<string, number>;
  bestRateUnderP99Ms: { limitMs: number; rate: number | null };
  invariants: { exitCode: number | null; output: string };
}

const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/**
 * The latency axis: logarithmic, from the decade below the fastest order to the decade above the
 * slowest, so a step past the knee (seconds) leaves the steps under it (tens of ms) readable.
 */
export function latencyAxis(minMs: number, maxMs: number): { lo: number; hi: number; ticks: number[] } {
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, minMs)));
  const hi = Math.max(lo * 10, 10 ** Math.ceil(Math.log10(Math.max(1, maxMs))));
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d *= 10) ticks.push(...[d, 2 * d, 5 * d].filter((t) => t <= hi));
  return { lo, hi, ticks };
}

/** Latency over time, one colour per rate, as an SVG image. */
export function latencyPlot(result: BenchResult): string {
  const width = 900;
  const height = 420;
  const pad = { left: 60, right: 160, top: 30, bottom: 45 };
  const maxT = Math.max(1, ...result.steps.map((s) => s.durationS));
  // loops, not Math.max(...all): a long run has more latencies than a call takes arguments
  const maxL = result.steps.reduce((m, s) => s.timeline.reduce((n, [, l]) => Math.max(n, l), m), 1);
  const minL = result.steps.reduce((m, s) => s.timeline.reduce((n, [, l]) => Math.min(n, l), m), maxL);
  const axis = latencyAxis(minL, maxL);
  const x = (t: number) => pad.left + (t / maxT) * (width - pad.left - pad.right);
  const y = (l: number) =>
    height -
    pad.bottom -
    (Math.log10(Math.max(axis.lo, l) / axis.lo) / Math.log10(axis.hi / axis.lo)) *
      (height - pad.top - pad.bottom);
  const dots = result.steps
    .map((s, i) =>
      s.timeline
        .filter((_, k) => s.timeline.length < 1_500 || k % Math.ceil(s.timeline.length / 1_500) === 0)
        .map(
          ([t, l]) =>
            `<circle cx="${x(t).toFixed(1)}" cy="${y(l).toFixed(1)}" r="1.4" fill="${COLORS[i % COLORS.length]}" fill-opacity="0.5"/>`,
        )
        .join(''),
    )
    .join('\n');
  const legend = result.steps
    .map((s, i) => {
      const ly = pad.top + 18 * i;
      return `<rect x="${width - pad.right + 15}" y="${ly}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${width - pad.right + 30}" y="${ly + 9}" font-size="11">${s.rate}/s  p99 ${s.latencyMs.p99} ms</text>`;
    })
    .join('\n');
  const ticks = axis.ticks
    .map(
      (t) =>
        `<text x="${pad.left - 6}" y="${y(t) + 4}" font-size="10" text-anchor="end">${t}</text><line x1="${pad.left}" x2="${width - pad.right}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${pad.left}" y="18" font-size="13">POST /orders to final state: latency (ms, log scale) over each step's seconds</text>
${ticks}
<line x1="${pad.left}" y1="${height - pad.bottom}" x2="${width - pad.right}" y2="${height - pad.bottom}" stroke="black"/>
<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${height - pad.bottom}" stroke="black"/>
<text x="${(width - pad.right) / 2}" y="${height - 10}" font-size="11">seconds into the step (0 - ${maxT})</text>
${dots}
${legend}
</svg>
`;
}

export function markdown(result: BenchResult): string {
  const f = result.floors;
  const rows = result.steps
    .map(
      (s) =>
        `| ${s.rate}/s | ${s.durationS} s | ${s.accepted} | ${s.rejected} | ${s.finalPerSecond.toFixed(1)} | ${s.confirmed}/${s.cancelled}/${s.unfinished} | ${s.latencyMs.p50} | ${s.latencyMs.p95} | ${s.latencyMs.p99} | ${s.latencyMs.max} |`,
    )
    .join('\n');
  const instanceRows = result.steps.flatMap((s) =>
    (s.instances ?? []).map(
      (i) =>
        `| ${s.rate}/s | ${i.url} | ${i.sent} | ${i.accepted} | ${i.rejected} | ${i.unfinished} | ${i.latencyMs.p50} | ${i.latencyMs.p99} |`,
    ),
  );
  const perInstance =
    instanceRows.length === 0
      ? ''
      : `

Per order service instance: each step sent its orders to the order URLs in turn, so each took the
step's rate divided by their number; latency is that of the orders it accepted:

| rate | order URL | sent | accepted | refused or failed | unfinished | p50 ms | p99 ms |
|---|---|---|---|---|---|---|---|
${instanceRows.join('\n')}`;
  const cpuNames = [...new Set(result.steps.flatMap((s) => Object.keys(s.cpuMsPerOrder)))];
  const cpuRows = result.steps
    .map((s) => `| ${s.rate}/s | ${cpuNames.map((n) => s.cpuMsPerOrder[n] ?? '').join(' | ')} |`)
    .join('\n');
  const cpu =
    cpuNames.length === 0
      ? ''
      : `CPU per final order (ms), from each service's \`process_cpu_seconds_total\`, this process, and
/proc/stat for the machine; "machine" includes everything that ran, so ${result.machine.cpus * 1000} / machine is the
rate at which this machine's cores would be full:

| rate | ${cpuNames.join(' | ')} |
|---|${cpuNames.map(() => '---|').join('')}
${cpuRows}

`;
  const instanceNames = [
    ...new Set(result.steps.flatMap((s) => Object.keys(s.cpuMsPerOrderByInstance ?? {}))),
  ];
  const instanceCpuRows = result.steps
    .map(
      (s) =>
        `| ${s.rate}/s | ${instanceNames.map((n) => s.cpuMsPerOrderByInstance?.[n] ?? '').join(' | ')} |`,
    )
    .join('\n');
  const cpuByInstance =
    instanceNames.length === 0
      ? ''
      : `By instance: each one's CPU over all the step's orders, so a service's instances add up to its
column above:

| rate | ${instanceNames.join(' | ')} |
|---|${instanceNames.map(() => '---|').join('')}
${instanceCpuRows}

`;
  const rss = Object.entries(result.maxRssMb)
    .map(([k, v]) => `${k} ${v} MB`)
    .join(', ');
  const perStep = result.steps
    .filter((s) => s.maxRssMb && Object.keys(s.maxRssMb).length > 0)
    .map(
      (s) =>
        `${s.rate}/s: ${Object.entries(s.maxRssMb ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
    )
    .join('; ');
  return `# Saga benchmark, ${result.startedAt}

Machine: ${result.machine.cpus} cores, ${result.machine.memoryGiB} GiB, Node ${result.machine.node}; Kafka, PostgreSQL, the
three services and the load generator all on it. Open loop: orders are sent at a fixed rate
whether or not earlier ones finished; latency is from sending POST /orders to the order's final
state (its last update in the order database). ${result.warmupS > 0 ? `The steps followed ${result.warmupS} s of load at the first rate (not reported).` : 'No warm-up.'} The load never paused: each step started as the one before it had sent its last order.

| rate | for | accepted | refused or failed | final/s | confirmed/cancelled/unfinished | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|---|---|---|---|
${rows}${perInstance}

${cpu}${cpuByInstance}Highest rate with p99 under ${result.bestRateUnderP99Ms.limitMs} ms: ${result.bestRateUnderP99Ms.rate ?? 'none of those tried'}/s.

Floors on this machine: one Kafka produce-to-consume round trip p50 ${f.kafkaRoundTripMs.p50} ms (p99 ${f.kafkaRoundTripMs.p99});
one PostgreSQL commit (a one-row insert on a logged table) p50 ${f.postgresCommitMs.p50} ms (p99 ${f.postgresCommitMs.p99}). PostgreSQL
autovacuum: ${result.machine.postgresAutovacuum}. A confirmed order takes at least
three Kafka round trips (try stock, try payment, confirm) and about nine commits.

Largest RSS seen: ${rss}.${perStep ? ` Per step (MB): ${perStep}.` : ''}

Invariant checker afterwards: ${result.invariants.exitCode === null ? 'not run (--no-check)' : `exit ${result.invariants.exitCode} (${result.invariants.exitCode === 0 ? 'all invariants hold' : 'see result.json'})`}.

![latency](latency.svg)
`;
}
