import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { ProductsController } from './http/products.controller';
import { StockCommandsHandler } from './messaging/stock-commands.handler';
import { stockEntities, stockMigrations } from './persistence/schema';
import { ReservationSweeper } from './reservations/reservation-sweeper';
import { StockTccService } from './reservations/stock-tcc.service';
import type { StockConfig } from './stock.config';
import { STOCK_SETTINGS } from './stock.settings';
import type { StockSettings } from './stock.settings';

@Module({})
export class AppModule {
  static register(config: StockConfig): DynamicModule {
    const settings: StockSettings = {
      maxHoldMs: config.RESERVATION_MAX_HOLD_MS,
      sweepIntervalMs: config.SWEEP_INTERVAL_MS,
    };
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'stock',
          config,
          entities: stockEntities,
          migrations: stockMigrations,
        }),
      ],
      controllers: [ProductsController, StockCommandsHandler],
      providers: [{ provide: STOCK_SETTINGS, useValue: settings }, StockTccService, ReservationSweeper],
    };
  }
}
