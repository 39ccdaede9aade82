import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { PeriodicTask } from '@tcc/service';
import { PAYMENT_SETTINGS } from '../payment.settings';
import type { PaymentSettings } from '../payment.settings';
import { PaymentTccService } from './payment-tcc.service';

const BATCH = 100;

/** Releases holds that outlived their time to live, and reports each to the order service. */
@Injectable()
export class HoldSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;

  constructor(payment: PaymentTccService, @Inject(PAYMENT_SETTINGS) settings: PaymentSettings) {
    this.task = new PeriodicTask('hold-sweeper', settings.sweepIntervalMs, async () => ({
      more: (await payment.expireOverdue(BATCH)) === BATCH,
    }));
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
