import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { PeriodicTask } from '@tcc/service';
import { ORDER_SETTINGS } from '../order.settings';
import type { OrderSettings } from '../order.settings';
import { OrderSagaService } from '../application/order-saga.service';

const BATCH = 100;

/** Room the try deadline must leave after a takeover, for the survivor to work off the backlog. */
const BACKLOG_ROOM_MS = 1_000;

/**
 * Why these settings let one crashed instance cancel orders, or undefined when they do not: the
 * orders in flight wait for the takeover of the dead instance's partitions, and their deadline
 * must outlast it (ADR 0011).
 */
export function deadlineWarning(
  s: Pick<OrderSettings, 'tryTimeoutMs' | 'crashTakeoverMs'>,
): string | undefined {
  if (s.tryTimeoutMs >= s.crashTakeoverMs + BACKLOG_ROOM_MS) return undefined;
  return (
    `ORDER_TRY_TIMEOUT_MS (${s.tryTimeoutMs}) leaves less than ${BACKLOG_ROOM_MS} ms after a crashed ` +
    `instance's takeover (up to ${s.crashTakeoverMs} ms: CONSUMER_SESSION_TIMEOUT_MS + 2 x ` +
    'CONSUMER_HEARTBEAT_INTERVAL_MS): a crash will cancel the orders in flight with TIMEOUT'
  );
}

/**
 * Fires what time decides: try deadlines that passed (the order is cancelled with reason TIMEOUT)
 * and confirms/cancels to send again. Both are read from the database, so they still fire after
 * the order service restarts, and several instances share the work (SKIP LOCKED).
 */
@Injectable()
export class SagaScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;
  private readonly warning: string | undefined;

  constructor(orders: OrderSagaService, @Inject(ORDER_SETTINGS) settings: OrderSettings) {
    this.warning = deadlineWarning(settings);
    this.task = new PeriodicTask('saga-scheduler', settings.schedulerIntervalMs, async () => {
      const deadlines = await orders.expireDeadlines(BATCH);
      const retries = await orders.retryUnanswered(BATCH);
      return { more: deadlines === BATCH || retries === BATCH };
    });
  }

  onApplicationBootstrap(): void {
    if (this.warning) new Logger(SagaScheduler.name).warn({ msg: this.warning });
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
