import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { counter } from '@tcc/observability';
import { PeriodicTask } from '@tcc/service';
import { PAYMENT_SETTINGS } from '../payment.settings';
import type { PaymentSettings } from '../payment.settings';
import { PaymentTccService } from './payment-tcc.service';

const BATCH = 100;

const expired = counter({
  name: 'tcc_reservations_expired_total',
  help: 'Reservations (stock) and holds (payment) the sweeper released after their time to live',
  labelNames: ['participant'],
});

/** Releases holds that outlived their time to live, and reports each to the order service. */
@Injectable()
export class HoldSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;

  constructor(payment: PaymentTccService, @Inject(PAYMENT_SETTINGS) settings: PaymentSettings) {
    this.task = new PeriodicTask('hold-sweeper', settings.sweepIntervalMs, async () => {
      const released = await payment.expireOverdue(BATCH);
      expired.inc({ participant: 'payment' }, released);
      return { more: released === BATCH };
    });
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
