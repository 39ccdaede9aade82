import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { PeriodicTask } from '@tcc/service';
import { ORDER_SETTINGS } from '../order.settings';
import type { OrderSettings } from '../order.settings';
import { OrderSagaService } from '../application/order-saga.service';

const BATCH = 100;

/**
 * Fires what time decides: try deadlines that passed (the order is cancelled with reason TIMEOUT)
 * and confirms/cancels to send again. Both are read from the database, so they still fire after
 * the order service restarts, and several instances share the work (SKIP LOCKED).
 */
@Injectable()
export class SagaScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;

  constructor(orders: OrderSagaService, @Inject(ORDER_SETTINGS) settings: OrderSettings) {
    this.task = new PeriodicTask('saga-scheduler', settings.schedulerIntervalMs, async () => {
      const deadlines = await orders.expireDeadlines(BATCH);
      const retries = await orders.retryUnanswered(BATCH);
      return { more: deadlines === BATCH || retries === BATCH };
    });
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
