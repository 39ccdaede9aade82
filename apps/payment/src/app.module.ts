import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { participantProviders } from '@tcc/tcc';
import { PAYMENT_ENGINE, paymentParticipant } from './holds/payment.participant';
import { WalletsController } from './http/wallets.controller';
import { PaymentCommandsHandler } from './messaging/payment-commands.handler';
import type { PaymentConfig } from './payment.config';
import { paymentEntities, paymentMigrations } from './persistence/schema';
import { WalletsService } from './wallets/wallets.service';

@Module({})
export class AppModule {
  static register(config: PaymentConfig): DynamicModule {
    const participant = paymentParticipant({ maxHoldMs: config.HOLD_MAX_MS });
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
        ...participantProviders(PAYMENT_ENGINE, participant, config.SWEEP_INTERVAL_MS),
        WalletsService,
      ],
    };
  }
}
