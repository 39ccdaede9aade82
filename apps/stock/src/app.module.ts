import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { participantProviders } from '@tcc/tcc';
import { ProductsController } from './http/products.controller';
import { StockCommandsHandler } from './messaging/stock-commands.handler';
import { stockEntities, stockMigrations } from './persistence/schema';
import { STOCK_ENGINE, stockParticipant } from './reservations/stock.participant';
import type { StockConfig } from './stock.config';

@Module({})
export class AppModule {
  static register(config: StockConfig): DynamicModule {
    const participant = stockParticipant({ maxHoldMs: config.RESERVATION_MAX_HOLD_MS });
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
      providers: participantProviders(STOCK_ENGINE, participant, config.SWEEP_INTERVAL_MS),
    };
  }
}
