import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { cpuPerOrder, cpuSnapshot } from './cpu';
import type { CpuMs } from './cpu';
import type { StepResult } from './report';
import { post, sampleRss } from './services';
import type { PickOrder } from './services';
import { dueAt, percentiles } from './stats';

type ServiceUrls = Record<string, string> & { order: string };

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
 * The warm-up (not reported), then one step per rate, while each service's memory is sampled
 * once a second: the highest over the whole load, and per step.
 */
export async function runLoad(
  load: { rates: number[]; durationS: number; warmupS: number },
  urls: ServiceUrls,
  metrics: Record<string, string>,
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
      const run = runStep(rates[0], warmupS, urls, metrics, db, pick);
      await run.sending;
      warmup = run.result;
    }
    const running: Promise<StepResult>[] = [];
    for (const rate of rates) {
      const rss: Record<string, number> = {};
      stepRssMb = rss;
      const run = runStep(rate, durationS, urls, metrics, db, pick);
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

interface Sent {
  key: string;
  sentAt: number;
  orderId?: string;
  finalAt?: number;
  status?: string;
}

/**
 * One step: sends `rate` orders a second for `durationS` seconds (open loop), then follows them to
 * their final state. `sending` settles when the last order of the step has been sent, so the next
 * step can start at once: the load never pauses between steps (a pause would let every queue and
 * batch run empty, and the next step would measure the climb back from idle rather than the rate
 * sustained). `result` settles once every order of the step is final (or given up).
 */
function runStep(
  rate: number,
  durationS: number,
  urls: ServiceUrls,
  metrics: Record<string, string>,
  db: Client,
  pick: PickOrder,
): { sending: Promise<void>; result: Promise<StepResult> } {
  const total = rate * durationS;
  const sent: Sent[] = [];
  const inFlight: Promise<void>[] = [];
  const bar = new ProgressBar();
  let rejected = 0;
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
      const s: Sent = { key: randomUUID(), sentAt: Date.now() };
      sent.push(s);
      const { customerId, productId, auth } = pick();
      const place = () =>
        post(
          `${urls.order}/orders`,
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
            } else rejected++;
          })
          .catch(() => void rejected++),
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
    const accepted = sent.filter((s) => s.orderId).length;
    const cpuMsPerOrder = cpuPerOrder(await cpuBefore, await (cpuAfter ?? cpuSnapshot(metrics)), accepted);
    const latencies = finals.map((s) => Math.max(0, (s.finalAt ?? 0) - s.sentAt));
    const lastFinal = finals.reduce((last, s) => Math.max(last, s.finalAt ?? 0), start + durationS * 1_000);
    return {
      rate,
      startedAt: new Date(start).toISOString(),
      durationS,
      sent: sent.length,
      accepted,
      rejected,
      final: finals.length,
      confirmed: finals.filter((s) => s.status === 'CONFIRMED').length,
      cancelled: finals.filter((s) => s.status === 'CANCELLED').length,
      unfinished: sent.filter((s) => s.orderId && s.finalAt === undefined).length,
      finalPerSecond: finals.length / ((lastFinal - start) / 1_000),
      latencyMs: percentiles(latencies),
      cpuMsPerOrder,
      // (the next step is already sending: nothing here may hold the event loop for long)
      timeline: finals.map((s, i) => [
        Math.round((s.sentAt - start) / 10) / 100,
        Math.round(latencies[i] ?? 0),
      ]),
    };
  })();
  return { sending, result };
}
