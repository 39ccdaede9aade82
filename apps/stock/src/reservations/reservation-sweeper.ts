import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { expirySweeper } from '@tcc/service';
import type { PeriodicTask } from '@tcc/service';
import { STOCK_SETTINGS } from '../stock.settings';
import type { StockSettings } from '../stock.settings';
import { StockTccService } from './stock-tcc.service';

/** Releases reservations that outlived their time to live, and reports each to the order service. */
@Injectable()
export class ReservationSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;

  constructor(stock: StockTccService, @Inject(STOCK_SETTINGS) settings: StockSettings) {
    this.task = expirySweeper('stock', settings.sweepIntervalMs, (limit) => stock.expireOverdue(limit));
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}
