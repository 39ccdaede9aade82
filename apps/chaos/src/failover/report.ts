import type { PartitionTakeover } from './takeover';

/** What became of one order of the load, read from the order database after the run. */
export interface OrderOutcome {
  sentAt: number;
  /** the order instance its first attempt went to */
  instance: number;
  status: string;
  reason: string | null;
  /** when it reached its final state (its last update), ms since the epoch */
  finalAt: number;
}

export type FaultKind = 'order' | 'stock' | 'payment' | 'broker';

/** One fault as it was carried out. */
export interface FaultResult {
  kind: FaultKind;
  /** e.g. "order#2 (SIGKILL)", "broker 2 (SIGKILL; led 7 of 18 partitions, coordinated tcc-order)" */
  victim: string;
  killedAt: number;
  /** when the victim was back (healthy, or the broker ready) */
  recoveredAt: number;
  takeovers: PartitionTakeover[];
  /** the fault could not be carried out */
  error?: string;
}

export interface WindowStats {
  /** orders first sent in the window */
  orders: number;
  confirmed: number;
  timeouts: number;
  /** cancelled for another reason: none is expected (the catalog has plenty of everything) */
  otherCancellations: number;
  unfinished: number;
  /** latency from sending POST /orders to the final state, ms; undefined without final orders */
  p50: number | undefined;
  p99: number | undefined;
  max: number | undefined;
}

/** The window of a fault: orders sent from 1 s before the kill (in flight at it) until the victim was back. */
export const BEFORE_KILL_MS = 1_000;

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The orders first sent in [from, to), and their latency. */
export function windowStats(orders: readonly OrderOutcome[], from: number, to: number): WindowStats {
  const inside = orders.filter((o) => o.sentAt >= from && o.sentAt < to);
  const final = inside.filter((o) => o.status === 'CONFIRMED' || o.status === 'CANCELLED');
  const latencies = final.map((o) => o.finalAt - o.sentAt).sort((a, b) => a - b);
  return {
    orders: inside.length,
    confirmed: inside.filter((o) => o.status === 'CONFIRMED').length,
    timeouts: inside.filter((o) => o.status === 'CANCELLED' && o.reason === 'TIMEOUT').length,
    otherCancellations: inside.filter((o) => o.status === 'CANCELLED' && o.reason !== 'TIMEOUT').length,
    unfinished: inside.length - final.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1),
  };
}

/** The slowest partition's takeover, and the median's; undefined when a partition never moved. */
export function takeoverOf(takeovers: readonly PartitionTakeover[]): {
  maxMs: number | undefined;
  medianMs: number | undefined;
  stuck: string[];
} {
  const stuck = takeovers.filter((t) => t.ms === undefined).map((t) => `${t.topic}/${t.partition}`);
  const ms = takeovers.flatMap((t) => (t.ms === undefined ? [] : [t.ms])).sort((a, b) => a - b);
  return {
    maxMs: stuck.length > 0 ? undefined : ms.at(-1),
    medianMs: percentile(ms, 50),
    stuck,
  };
}

export interface FailoverSummary {
  seed: number;
  repeat: string;
  startedAt: string;
  wallSeconds: number;
  rate: number;
  /** the services' try deadline (ORDER_TRY_TIMEOUT_MS): an order not through its tries by then is cancelled */
  tryTimeoutMs: number;
  topology: string;
  load: { sent: number; accepted: number; noAnswer: number; serverErrors: number; unexpected: string[] };
  /** after the warm-up, until 1 s before the first kill */
  baseline: WindowStats;
  faults: (FaultResult & { window: WindowStats; takeover: ReturnType<typeof takeoverOf> })[];
  /** every order of the run */
  total: WindowStats;
  /** per order instance (index of its URL), every order first sent to it */
  perInstance: WindowStats[];
  unexpectedExits: string[];
  quiet: { reached: boolean; detail: string };
  invariants: { exitCode: number | null; failed: string[] };
  failures: string[];
  ok: boolean;
}

/**
 * Whether the machine carried the rate before any fault: a takeover adds its seconds to the
 * latency orders already have, so a baseline p99 past half the try deadline leaves a fault no
 * room. Undefined when it did; otherwise a sentence saying that a failure of this run measures
 * the machine, not the failover.
 */
export function capacityNote(
  s: Pick<FailoverSummary, 'rate' | 'tryTimeoutMs' | 'baseline'>,
): string | undefined {
  const { p99, timeouts } = s.baseline;
  if (timeouts === 0 && (p99 === undefined || p99 <= s.tryTimeoutMs / 2)) return undefined;
  const seen =
    timeouts > 0
      ? `${timeouts} orders were cancelled by TIMEOUT before any fault`
      : `p99 was ${(p99! / 1_000).toFixed(1)} s before any fault`;
  return (
    `this machine did not carry ${s.rate} orders/s: ${seen}, against a try deadline of ` +
    `${s.tryTimeoutMs / 1_000} s, so a takeover of several seconds has no room; ` +
    `a lower --rate measures the failover rather than the machine`
  );
}

/** What makes the run fail: each a sentence. */
export function judge(s: Omit<FailoverSummary, 'failures' | 'ok'>): string[] {
  const failures: string[] = [];
  if (s.total.timeouts > 0) failures.push(`${s.total.timeouts} orders were cancelled by TIMEOUT`);
  if (s.total.otherCancellations > 0)
    failures.push(`${s.total.otherCancellations} orders were cancelled for another reason (none expected)`);
  if (s.total.unfinished > 0) failures.push(`${s.total.unfinished} orders are not final`);
  if (s.load.accepted < s.load.sent)
    failures.push(`${s.load.sent - s.load.accepted} orders were never accepted`);
  for (const u of s.load.unexpected.slice(0, 5)) failures.push(`unexpected answer: ${u}`);
  for (const f of s.faults) {
    if (f.error) failures.push(`${f.kind} fault not carried out: ${f.error}`);
    else if (f.takeovers.length === 0) failures.push(`${f.victim}: owned or led no partition to watch`);
    else if (f.takeover.stuck.length > 0)
      failures.push(`${f.victim}: no message handled after it on ${f.takeover.stuck.join(', ')}`);
  }
  for (const id of s.unexpectedExits) failures.push(`${id} exited without being killed`);
  if (!s.quiet.reached) failures.push(`no quiet at the end: ${s.quiet.detail}`);
  if (s.invariants.exitCode !== 0)
    failures.push(
      `invariant checker exit ${s.invariants.exitCode}: ${s.invariants.failed.join('; ') || 'see invariants.json'}`,
    );
  return failures;
}

const ms = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v)}`);
const s1 = (v: number | undefined) => (v === undefined ? 'never' : `${(v / 1_000).toFixed(1)} s`);

function row(label: string, w: WindowStats, takeover = ''): string {
  return `| ${label} | ${takeover} | ${w.orders} | ${w.timeouts} | ${w.otherCancellations + w.unfinished} | ${ms(w.p50)} | ${ms(w.p99)} | ${ms(w.max)} |`;
}

/** A fault's takeover cell: the slowest partition (the median) and how many were watched. */
function takeoverCell(f: FailoverSummary['faults'][number]): string {
  if (f.error) return `not carried out (${f.error.replaceAll('|', '/')})`;
  return `${s1(f.takeover.maxMs)} (${s1(f.takeover.medianMs)}) over ${f.takeovers.length} partitions`;
}

export function formatFailover(s: FailoverSummary): string {
  const lines = [
    '',
    `FAILOVER RUN ${s.ok ? 'PASSED' : 'FAILED'} (seed ${s.seed}; repeat: ${s.repeat})`,
    `${s.topology}; ${s.rate} orders/s; ${s.wallSeconds} s in all`,
    `orders: ${s.load.sent} sent, ${s.load.accepted} accepted, ${s.total.confirmed} confirmed, ` +
      `${s.total.timeouts} cancelled by TIMEOUT, ${s.total.otherCancellations} cancelled otherwise, ${s.total.unfinished} not final; ` +
      `attempts without an answer ${s.load.noAnswer}, answered 5xx ${s.load.serverErrors}`,
    '',
    'Takeover: from the kill until a message written after it was handled, on every partition the victim owned',
    '(an instance), or led or whose group it coordinated (a broker): slowest (median) of them. Window: orders',
    'sent from 1 s before the kill until the victim was back; latency from POST /orders to the final state, ms.',
    '',
    '| fault | takeover | orders | TIMEOUT | other | p50 | p99 | max |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    row('before the first fault', s.baseline),
    ...s.faults.map((f) => row(f.victim, f.window, takeoverCell(f))),
    row('whole run', s.total),
    '',
    'Per order instance (orders first sent to it):',
    ...s.perInstance.map(
      (w, i) => `  order instance ${i + 1}: ${w.orders} orders, p50 ${ms(w.p50)} ms, p99 ${ms(w.p99)} ms`,
    ),
    '',
    `quiet: ${s.quiet.reached ? 'reached' : 'NOT reached'} (${s.quiet.detail})`,
    `invariant checker: exit ${s.invariants.exitCode}${s.invariants.failed.length > 0 ? ` (${s.invariants.failed.join('; ')})` : ' (all invariants hold)'}`,
  ];
  if (s.failures.length > 0) lines.push('', 'FAILURES:', ...s.failures.map((f) => `  - ${f}`));
  const capacity = capacityNote(s);
  if (capacity) lines.push('', `NOTE: ${capacity}.`);
  return `${lines.join('\n')}\n`;
}
