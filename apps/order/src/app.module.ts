import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { orderEntities, orderMigrations } from './persistence/schema';
import type { OrderConfig } from './order.config';

@Module({})
export class AppModule {
  static register(config: OrderConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'order',
          config,
          entities: orderEntities,
          migrations: orderMigrations,
        }),
      ],
    };
  }
}
