import { counter, histogram } from '@tcc/observability';
import type { CancelReason, FinalStatus } from '../saga/order-saga';

/** An order that reached a final state in a step, and how long its saga took. */
export interface Finished {
  status: FinalStatus;
  reason: CancelReason | null;
  seconds: number;
}

const sagaMetrics = {
  started: counter({ name: 'tcc_sagas_started_total', help: 'Orders placed (sagas started)' }),
  finished: counter({
    name: 'tcc_sagas_finished_total',
    help: 'Sagas that reached a final state, by status and cancellation reason',
    labelNames: ['status', 'reason'],
  }),
  duration: histogram({
    name: 'tcc_saga_duration_seconds',
    help: 'From POST /orders to the final state',
    labelNames: ['status'],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  }),
};

export function recordStarted(): void {
  sagaMetrics.started.inc();
}

/** Counted once the write committed, so a step tried again is not counted twice. */
export function recordFinished(finished: readonly Finished[]): void {
  for (const f of finished) {
    sagaMetrics.finished.inc({ status: f.status, reason: f.reason ?? 'none' });
    sagaMetrics.duration.observe({ status: f.status }, f.seconds);
  }
}
