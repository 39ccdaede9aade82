import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { expirySweeper } from '@tcc/service';
import type { PeriodicTask } from '@tcc/service';
import { PAYMENT_SETTINGS } from '../payment.settings';
import type { PaymentSettings } from '../payment.settings';
import { PaymentTccService } from './payment-tcc.service';

/** Releases holds that outlived their time to live, and reports each to the order service. */
@Injectable()
export class HoldSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;

  constructor(payment: PaymentTccService, @Inject(PAYMENT_SETTINGS) settings: PaymentSettings) {
    this.task = expirySweeper('payment', settings.sweepIntervalMs, (limit) => payment.expireOverdue(limit));
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
