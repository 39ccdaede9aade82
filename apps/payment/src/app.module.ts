import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { HoldSweeper } from './holds/hold-sweeper';
import { PaymentTccService } from './holds/payment-tcc.service';
import { WalletsController } from './http/wallets.controller';
import { PaymentCommandsHandler } from './messaging/payment-commands.handler';
import type { PaymentConfig } from './payment.config';
import { PAYMENT_SETTINGS } from './payment.settings';
import type { PaymentSettings } from './payment.settings';
import { paymentEntities, paymentMigrations } from './persistence/schema';
import { WalletsService } from './wallets/wallets.service';

@Module({})
export class AppModule {
  static register(config: PaymentConfig): DynamicModule {
    const settings: PaymentSettings = {
      maxHoldMs: config.HOLD_MAX_MS,
      sweepIntervalMs: config.SWEEP_INTERVAL_MS,
    };
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
      controllers: [WalletsController, PaymentCommandsHandler],
      providers: [
        { provide: PAYMENT_SETTINGS, useValue: settings },
        PaymentTccService,
        HoldSweeper,
        WalletsService,
      ],
    };
  }
}
