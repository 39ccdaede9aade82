import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { paymentEntities, paymentMigrations } from './persistence/schema';
import type { PaymentConfig } from './payment.config';

@Module({})
export class AppModule {
  static register(config: PaymentConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'payment',
          config,
          entities: paymentEntities,
          migrations: paymentMigrations,
        }),
      ],
    };
  }
}
