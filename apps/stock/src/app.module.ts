import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { stockEntities, stockMigrations } from './persistence/schema';
import type { StockConfig } from './stock.config';

@Module({})
export class AppModule {
  static register(config: StockConfig): DynamicModule {
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
    };
  }
}
