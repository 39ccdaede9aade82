import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { cpuSnapshot, stepCpu } from './cpu';
import type { CpuMs, MetricsUrls } from './cpu';
import type { InstanceResult, StepResult } from './report';
import { post, sampleRss } from './services';
import type { PickOrder } from './services';
import { dueAt, latencyOf, roundRobin, tally } from './stats';
import type { SentOrder } from './stats';

class ProgressBar {
  private readonly tty = Boolean(process.stderr.isTTY);
  private last = 0;
  update(label: string, done: number, total: number, extra: string): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 200 : 5_000) && done < total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((done / Math.max(1, total)) * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${extra}`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }
  end(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

/**
 * The warm-up (not reported), then one step per rate, while each instance's memory is sampled
 * once a second: the highest over the whole load, and per step. Orders go to the order service
 * instances at `orderUrls` in turn.
 */
export async function runLoad(
  load: { rates: number[]; durationS: number; warmupS: number },
  orderUrls: readonly string[],
  metrics: MetricsUrls,
  db: Client,
  pick: PickOrder,
): Promise<{ steps: StepResult[]; maxRssMb: Record<string, number> }> {
  const { rates, durationS, warmupS } = load;
  const maxRssMb: Record<string, number> = {};
  let stepRssMb: Record<string, number> = {};
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sampleRss(metrics, maxRssMb, stepRssMb);
      await sleep(1_000);
    }
  })();
  try {
    // each step starts as the one before it has sent its last order (see runStep)
    let warmup: Promise<unknown> = Promise.resolve();
    if (warmupS > 0 && rates[0] !== undefined) {
      process.stderr.write(`warming up: ${warmupS} s at ${rates[0]}/s, not reported ...\n`);
      const run = runStep(rates[0], warmupS, orderUrls, metrics, db, pick);
      await run.sending;
      warmup = run.result;
    }
    const running: Promise<StepResult>[] = [];
    for (const rate of rates) {
      const rss: Record<string, number> = {};
      stepRssMb = rss;
      const run = runStep(rate, durationS, orderUrls, metrics, db, pick);
      await run.sending;
      running.push(run.result.then((step) => ({ ...step, maxRssMb: rss })));
    }
    await warmup;
    return { steps: await Promise.all(running), maxRssMb };
  } finally {
    sampling = false;
    await sampler;
  }
}

interface Sent extends SentOrder {
  key: string;
  /** the order URL it went to */
  instance: string;
}

/**
 * One step: sends `rate` orders a second for `durationS` seconds (open loop), to each of
 * `orderUrls` in turn, then follows them to their final state in the order database (which all
 * the instances share). `sending` settles when the last order of the step has been sent, so the next
 * step can start at once: the load never pauses between steps (a pause would let every queue and
 * batch run empty, and the next step would measure the climb back from idle rather than the rate
 * sustained). `result` settles once every order of the step is final (or given up).
 */
function runStep(
  rate: number,
  durationS: number,
  orderUrls: readonly string[],
  metrics: MetricsUrls,
  db: Client,
  pick: PickOrder,
): { sending: Promise<void>; result: Promise<StepResult> } {
  const total = rate * durationS;
  const sent: Sent[] = [];
  const inFlight: Promise<void>[] = [];
  const bar = new ProgressBar();
  let start = Date.now();
  let polling = true;
  const pending = new Map<string, Sent>();
  const cpuBefore = cpuSnapshot(metrics);
  let cpuAfter: Promise<CpuMs> | undefined;
  const poller = (async () => {
    while (polling || pending.size > 0) {
      const ids = [...pending.keys()].slice(0, 5_000);
      if (ids.length > 0) {
        const rows = await db.query<{ id: string; status: string; t: string }>(
          `SELECT id, status, (extract(epoch from updated_at) * 1000)::float8 AS t FROM orders
            WHERE id = ANY($1::uuid[]) AND status IN ('CONFIRMED', 'CANCELLED')`,
          [ids],
        );
        for (const r of rows.rows) {
          const s = pending.get(r.id);
          if (s) {
            s.finalAt = Number(r.t);
            s.status = r.status;
            pending.delete(r.id);
          }
        }
      }
      const finals = sent.filter((s) => s.finalAt !== undefined).length;
      bar.update(
        `${rate}/s`,
        Math.min(sent.length, total),
        total,
        `sent, ${finals} final, ${pending.size} in flight`,
      );
      if (!polling && Date.now() - start > durationS * 1_000 + 60_000) break; // give up on stragglers
      // latency comes from updated_at, not from when this sees it: a slow poll loses no precision,
      // and a fast one over thousands of pending ids would load the database it measures
      await sleep(500);
    }
  })();
  const sending = (async () => {
    await cpuBefore;
    start = Date.now();
    for (let i = 0; i < total; i++) {
      const wait = dueAt(start, rate, i) - Date.now();
      if (wait > 0) await sleep(wait);
      const s: Sent = { key: randomUUID(), sentAt: Date.now(), instance: roundRobin(orderUrls, i) };
      sent.push(s);
      const { customerId, productId, auth } = pick();
      const place = () =>
        post(
          `${s.instance}/orders`,
          { customerId, lines: [{ productId, quantity: 1 }] },
          { 'idempotency-key': s.key, ...auth },
        );
      inFlight.push(
        // a kept-alive socket the server closed just then fails the request (ECONNRESET): sent
        // again under the same idempotency key, it places the order at most once
        place()
          .catch(place)
          .then((res) => {
            const id = (res.body as { id?: string } | undefined)?.id;
            if (res.status === 202 && id) {
              s.orderId = id;
              pending.set(id, s);
            } else s.refused = true;
          })
          .catch(() => void (s.refused = true)),
      );
    }
    // the CPU of the step's window, the orders of the step: at a steady rate, the orders still in
    // flight at its end cost what those of the step before cost at its start
    cpuAfter = cpuSnapshot(metrics);
  })();
  const result = (async (): Promise<StepResult> => {
    await sending;
    await Promise.all(inFlight);
    polling = false;
    await poller;
    bar.end();
    const finals = sent.filter((s) => s.finalAt !== undefined);
    const { latencyMs, ...counts } = tally(sent);
    const cpu = stepCpu(await cpuBefore, await (cpuAfter ?? cpuSnapshot(metrics)), counts.accepted, metrics);
    const lastFinal = finals.reduce((last, s) => Math.max(last, s.finalAt ?? 0), start + durationS * 1_000);
    return {
      rate,
      startedAt: new Date(start).toISOString(),
      durationS,
      ...counts,
      finalPerSecond: finals.length / ((lastFinal - start) / 1_000),
      latencyMs,
      ...cpu,
      ...(orderUrls.length > 1 ? { instances: byInstance(sent, orderUrls) } : {}),
      // (the next step is already sending: nothing here may hold the event loop for long)
      timeline: finals.map((s) => [Math.round((s.sentAt - start) / 10) / 100, Math.round(latencyOf(s))]),
    };
  })();
  return { sending, result };
}

/** The orders each instance took, in the order of `orderUrls`. */
function byInstance(sent: readonly Sent[], orderUrls: readonly string[]): InstanceResult[] {
  const taken = new Map(orderUrls.map((url) => [url, [] as Sent[]]));
  for (const s of sent) taken.get(s.instance)?.push(s);
  return orderUrls.map((url) => ({ url, ...tally(taken.get(url) ?? []) }));
}
