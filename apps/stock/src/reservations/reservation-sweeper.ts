import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { counter } from '@tcc/observability';
import { PeriodicTask } from '@tcc/service';
import { STOCK_SETTINGS } from '../stock.settings';
import type { StockSettings } from '../stock.settings';
import { StockTccService } from './stock-tcc.service';

const BATCH = 100;

const expired = counter({
  name: 'tcc_reservations_expired_total',
  help: 'Reservations (stock) and holds (payment) the sweeper released after their time to live',
  labelNames: ['participant'],
});

/** Releases reservations that outlived their time to live, and reports each to the order service. */
@Injectable()
export class ReservationSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly task: PeriodicTask;

  constructor(stock: StockTccService, @Inject(STOCK_SETTINGS) settings: StockSettings) {
    this.task = new PeriodicTask('reservation-sweeper', settings.sweepIntervalMs, async () => {
      const released = await stock.expireOverdue(BATCH);
      expired.inc({ participant: 'stock' }, released);
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
