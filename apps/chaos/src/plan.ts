import type { Prng } from './prng';

export type ServiceName = 'order' | 'stock' | 'payment';
export const SERVICES: readonly ServiceName[] = ['order', 'stock', 'payment'];
/** the services that run two instances in one consumer group */
export type Participant = 'stock' | 'payment';
export const PARTICIPANTS: readonly Participant[] = ['stock', 'payment'];

/** Bad messages written straight onto every consumed topic; each must be dead-lettered. */
export const KAFKA_BAD_INPUTS = [
  'malformed-json',
  'invalid-envelope',
  'schema-invalid',
  'unknown-type',
  'oversized',
] as const;
/** Bad requests to POST /orders, and requests without the right credentials; each must get its 4xx. */
export const HTTP_BAD_INPUTS = ['invalid-body', 'idempotency-key-reuse', 'auth-attacks'] as const;
export type KafkaBadInput = (typeof KAFKA_BAD_INPUTS)[number];
export type HttpBadInput = (typeof HTTP_BAD_INPUTS)[number];
export type BadInputKind = KafkaBadInput | HttpBadInput;

export function isHttpBadInput(kind: BadInputKind): kind is HttpBadInput {
  return (HTTP_BAD_INPUTS as readonly string[]).includes(kind);
}

export type FaultEvent =
  /** SIGKILL one instance of the service (victim: index into its live instances), restart it downMs later */
  | { at: number; kind: 'kill'; service: ServiceName; victim: number; downMs: number }
  | { at: number; kind: 'kafka-restart'; downMs: number }
  | { at: number; kind: 'postgres-restart'; downMs: number }
  /** one more instance in the participant's consumer group */
  | { at: number; kind: 'add-instance'; service: Participant }
  /** SIGTERM one instance: it leaves the group, its partitions move */
  | { at: number; kind: 'remove-instance'; service: Participant; victim: number }
  | { at: number; kind: 'bad-input'; input: BadInputKind }
  /** `count` made-up orders get cancel, then try, on both participants' topics */
  | { at: number; kind: 'cancel-before-try'; count: number };

export interface PlanOptions {
  durationMs: number;
  killsPerService: number;
  cancelBeforeTryBatches: number;
  cancelBeforeTryPerBatch: number;
}

/** A moment in [from, to) of the run, as fractions of its duration. */
function between(prng: Prng, durationMs: number, from: number, to: number): number {
  return Math.round(durationMs * (from + prng.next() * (to - from)));
}

/**
 * Every fault of a run, at its time from the start, sorted by time. The same generator state
 * gives the same plan. Each service's kills fall one in each of equal slots of the run, so they
 * are spread out; Kafka restarts in the first half and PostgreSQL in the second, so the two are
 * never down together; an instance is added in the first half and one removed in the second.
 */
export function planFaults(prng: Prng, o: PlanOptions): FaultEvent[] {
  const d = o.durationMs;
  const events: FaultEvent[] = [];
  for (const service of SERVICES) {
    const k = o.killsPerService;
    for (let i = 0; i < k; i++) {
      const slot = 0.05 + (0.85 * i) / k;
      events.push({
        at: between(prng, d, slot, slot + 0.85 / k),
        kind: 'kill',
        service,
        victim: prng.int(0, 7),
        downMs: prng.int(300, 3_000),
      });
    }
  }
  events.push({ at: between(prng, d, 0.15, 0.4), kind: 'kafka-restart', downMs: prng.int(1_000, 4_000) });
  events.push({ at: between(prng, d, 0.55, 0.8), kind: 'postgres-restart', downMs: prng.int(1_000, 4_000) });
  for (const service of PARTICIPANTS) {
    events.push({ at: between(prng, d, 0.1, 0.45), kind: 'add-instance', service });
    events.push({
      at: between(prng, d, 0.5, 0.85),
      kind: 'remove-instance',
      service,
      victim: prng.int(0, 7),
    });
  }
  for (const input of [...KAFKA_BAD_INPUTS, ...HTTP_BAD_INPUTS])
    events.push({ at: between(prng, d, 0.05, 0.9), kind: 'bad-input', input });
  for (let i = 0; i < o.cancelBeforeTryBatches; i++) {
    events.push({
      at: between(prng, d, 0.05, 0.9),
      kind: 'cancel-before-try',
      count: o.cancelBeforeTryPerBatch,
    });
  }
  return events.sort((a, b) => a.at - b.at);
}

/** One line per event, for the log and the summary. */
export function describeEvent(e: FaultEvent): string {
  const t = `${(e.at / 1_000).toFixed(1)}s`;
  switch (e.kind) {
    case 'kill':
      return `${t} SIGKILL ${e.service} (down ${e.downMs} ms)`;
    case 'kafka-restart':
      return `${t} restart Kafka (down ${e.downMs} ms)`;
    case 'postgres-restart':
      return `${t} restart PostgreSQL (down ${e.downMs} ms)`;
    case 'add-instance':
      return `${t} add a ${e.service} instance`;
    case 'remove-instance':
      return `${t} remove a ${e.service} instance`;
    case 'bad-input':
      return `${t} bad input: ${e.input}`;
    case 'cancel-before-try':
      return `${t} cancel before try for ${e.count} orders`;
  }
}
