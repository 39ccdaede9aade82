import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { counter, gauge } from '@tcc/observability';
import { PeriodicTask } from '@tcc/service';
import { ORDER_SETTINGS } from '../order.settings';
import type { OrderSettings } from '../order.settings';
import { OrderRepository } from '../persistence/order.repository';

/** How often the orders in progress are counted (and the event loop's delay read). */
const COUNT_EVERY_MS = 500;
/** The event loop delay monitor's timer: its own period is not delay. */
const LOOP_RESOLUTION_MS = 20;

/** Whether an order may start now; when not, why, in words for the client. */
export type Admission = { admitted: true } | { admitted: false; why: string };

/**
 * Back-pressure for POST /orders. Past the machine's knee, sagas in progress pile up; every order
 * taken on then waits behind them, try deadlines pass, and the cancellations add to the load that
 * made them late (the benchmark at 1000/s from a cold start: 360 orders a second reached a final
 * state, and half of those were cancelled by TIMEOUT). So while the orders in progress (TRYING,
 * CONFIRMING or CANCELLING) are at `maxInProgress`, a new order is refused with 503 and the client
 * tries again later; nothing it was promised is dropped.
 *
 * The count is the database's, so it covers every order instance and survives restarts: counted
 * every 500 ms, plus the orders this instance admitted since.
 *
 * The other queue is this process itself: the requests it has not read yet and the replies it has
 * fetched wait for its event loop. From a cold start at 1000/s the loop was the bottleneck, and
 * requests waited in front of it for tens of seconds while few orders were in progress. So a new
 * order is also refused while the loop's mean delay over the last count's window is above
 * `maxLoopDelayMs`: a refusal costs the loop little, and the replies it frees the loop for are
 * what brings the orders in progress to an end.
 */
@Injectable()
export class OrderAdmission implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private counted = 0;
  private admittedSince = 0;
  /** the event loop's mean delay over the last window, ms */
  private loopDelayMs = 0;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly task: PeriodicTask;

  constructor(
    private readonly orders: OrderRepository,
    @Inject(ORDER_SETTINGS) private readonly settings: OrderSettings,
  ) {
    this.task = new PeriodicTask('order-admission', COUNT_EVERY_MS, () => this.count());
  }

  async onApplicationBootstrap(): Promise<void> {
    this.loopDelay.enable();
    await this.count();
    this.task.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.task.stop();
    this.loopDelay.disable();
  }

  /** Whether one more order may start now; an admitted one is counted at once. */
  admit(): Admission {
    const inProgress = this.counted + this.admittedSince;
    const { maxInProgress, maxLoopDelayMs } = this.settings;
    if (inProgress >= maxInProgress) {
      admissionMetrics.refused.inc({ why: 'in-progress' });
      return {
        admitted: false,
        why: `${inProgress} orders are in progress, the most this service takes on at once is ${maxInProgress}`,
      };
    }
    if (this.loopDelayMs > maxLoopDelayMs) {
      admissionMetrics.refused.inc({ why: 'busy' });
      return {
        admitted: false,
        why: `the order service is ${Math.round(this.loopDelayMs)} ms behind (more than ${maxLoopDelayMs} ms)`,
      };
    }
    this.admittedSince++;
    return { admitted: true };
  }

  /**
   * Counts the orders in progress again, in the database: one index-only scan per partial index of
   * the scheduler (OrderRepository.countInProgress); `status IN (all three)` was a sequential scan
   * of every order, 13 ms at 40 000 orders and growing with the table.
   */
  async count(): Promise<void> {
    this.loopDelayMs =
      this.loopDelay.count > 0 ? Math.max(0, this.loopDelay.mean / 1e6 - LOOP_RESOLUTION_MS) : 0;
    this.loopDelay.reset();
    const admittedBefore = this.admittedSince;
    this.counted = await this.orders.countInProgress();
    // admitted while the count ran: perhaps in it, perhaps not; counted once more rather than never
    this.admittedSince -= Math.min(this.admittedSince, admittedBefore);
    admissionMetrics.inProgress.set(this.counted);
  }
}

const admissionMetrics = {
  refused: counter({
    name: 'tcc_orders_refused_total',
    help: 'POST /orders refused with 503: the orders in progress at ORDER_MAX_IN_PROGRESS (in-progress), or the event loop behind by more than ORDER_MAX_LOOP_DELAY_MS (busy)',
    labelNames: ['why'],
  }),
  inProgress: gauge({
    name: 'tcc_orders_in_progress',
    help: 'Orders neither confirmed nor cancelled, as last counted in the database',
  }),
};
