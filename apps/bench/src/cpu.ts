import { readFileSync } from 'node:fs';

/** CPU time in milliseconds, by who spent it. */
export type CpuMs = Record<string, number>;

/**
 * Busy CPU time of the whole machine so far (all cores, ms), from /proc/stat: user, nice, system,
 * irq, softirq and steal. Undefined where there is no /proc (not Linux).
 */
export function machineBusyMs(procStat?: string): number | undefined {
  let text = procStat;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/stat', 'utf8');
    } catch {
      return undefined;
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const ticks = [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** The value of the first sample of `name` on a Prometheus text page. */
export function metricValue(metricsText: string, name: string): number | undefined {
  const line = metricsText.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
}

/** `process_cpu_seconds_total` from a Prometheus text page, in ms. */
export function processCpuMs(metricsText: string): number | undefined {
  const seconds = metricValue(metricsText, 'process_cpu_seconds_total');
  return seconds === undefined ? undefined : seconds * 1000;
}

/** Each service's /metrics URLs, one per instance, by service name. */
export type MetricsUrls = Record<string, readonly string[]>;

/**
 * The names a service's instances go by in CPU and memory figures: the service's own when it runs
 * one instance (so a one-instance run reads as it always has), else the service and each
 * instance's host and port ("order 10.0.0.5:9464").
 */
export function instanceNames(service: string, urls: readonly string[]): string[] {
  return urls.length === 1 ? [service] : urls.map((url) => `${service} ${new URL(url).host}`);
}

/** Every instance's /metrics URL, by its name (see instanceNames), service by service. */
export function instanceUrls(metrics: MetricsUrls): [name: string, url: string][] {
  return Object.entries(metrics).flatMap(([service, urls]) => {
    const names = instanceNames(service, urls);
    return urls.map((url, i): [string, string] => [names[i] ?? service, url]);
  });
}

/**
 * A snapshot with each service's instances summed into the service. A service whose instances
 * were not all read is left out, as a service not read at all is: a partial sum would understate
 * it (what it spent then counts in the rest of the machine).
 */
export function perService(snapshot: CpuMs, metrics: MetricsUrls): CpuMs {
  const summed: CpuMs = {};
  const instances = new Set<string>();
  for (const [service, urls] of Object.entries(metrics)) {
    let total: number | undefined = 0;
    for (const name of instanceNames(service, urls)) {
      instances.add(name);
      const ms = snapshot[name];
      total = total === undefined || ms === undefined ? undefined : total + ms;
    }
    if (total !== undefined) summed[service] = total;
  }
  for (const [name, ms] of Object.entries(snapshot)) if (!instances.has(name)) summed[name] = ms;
  return summed;
}

/**
 * A step's CPU per order (see cpuPerOrder): per service, its instances summed, and, where a
 * service runs several instances, per instance too. Each instance's figure is its CPU over all the
 * step's orders, so a service's instances add up to the service's figure.
 */
export function stepCpu(
  before: CpuMs,
  after: CpuMs,
  orders: number,
  metrics: MetricsUrls,
): { cpuMsPerOrder: CpuMs; cpuMsPerOrderByInstance?: CpuMs } {
  const cpuMsPerOrder = cpuPerOrder(perService(before, metrics), perService(after, metrics), orders);
  const names = instanceUrls(metrics).map(([name]) => name);
  if (names.length === Object.keys(metrics).length) return { cpuMsPerOrder };
  const all = cpuPerOrder(before, after, orders);
  const cpuMsPerOrderByInstance: CpuMs = {};
  for (const name of names) {
    const ms = all[name];
    if (ms !== undefined) cpuMsPerOrderByInstance[name] = ms;
  }
  return { cpuMsPerOrder, cpuMsPerOrderByInstance };
}

/** A snapshot: each instance's CPU (from its /metrics URL), this load generator's, and the machine's. */
export async function cpuSnapshot(metrics: MetricsUrls): Promise<CpuMs> {
  const snapshot: CpuMs = {};
  for (const [name, url] of instanceUrls(metrics)) {
    const text = await fetch(url)
      .then((r) => r.text())
      .catch(() => '');
    const ms = processCpuMs(text);
    if (ms !== undefined) snapshot[name] = ms;
  }
  const own = process.cpuUsage();
  snapshot['load generator'] = (own.user + own.system) / 1000;
  const machine = machineBusyMs();
  if (machine !== undefined) snapshot['machine'] = machine;
  return snapshot;
}

/**
 * CPU ms per final order between two snapshots: per service, the load generator, and the rest of
 * the machine (Kafka, PostgreSQL and anything else running), plus the machine total.
 */
export function cpuPerOrder(before: CpuMs, after: CpuMs, orders: number): CpuMs {
  const per: CpuMs = {};
  if (orders <= 0) return per;
  let named = 0;
  for (const [name, end] of Object.entries(after)) {
    if (name === 'machine') continue;
    const start = before[name];
    if (start === undefined) continue;
    per[name] = (end - start) / orders;
    named += end - start;
  }
  const { machine: m0 } = before;
  const { machine: m1 } = after;
  if (m0 !== undefined && m1 !== undefined) {
    per['Kafka, PostgreSQL, rest'] = Math.max(0, m1 - m0 - named) / orders;
    per['machine'] = (m1 - m0) / orders;
  }
  for (const k of Object.keys(per)) per[k] = Math.round((per[k] ?? 0) * 100) / 100;
  return per;
}
