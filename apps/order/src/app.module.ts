import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { ServiceCoreModule } from '@tcc/service';
import { OrdersController } from './http/orders.controller';
import { OrderRepliesHandler } from './messaging/order-replies.handler';
import type { OrderConfig } from './order.config';
import { ORDER_SETTINGS } from './order.settings';
import type { OrderSettings } from './order.settings';
import { OrderAdmission } from './orders/order-admission';
import { OrderSagaService } from './orders/order-saga.service';
import { SagaScheduler } from './orders/saga-scheduler';
import { orderEntities, orderMigrations } from './persistence/schema';

@Module({})
export class AppModule {
  static register(config: OrderConfig): DynamicModule {
    const settings: OrderSettings = {
      tryTimeoutMs: config.ORDER_TRY_TIMEOUT_MS,
      confirmWindowMs: config.ORDER_CONFIRM_WINDOW_MS,
      retryInitialMs: config.ORDER_RETRY_INITIAL_MS,
      retryMaxMs: config.ORDER_RETRY_MAX_MS,
      schedulerIntervalMs: config.ORDER_SCHEDULER_INTERVAL_MS,
      maxInProgress: config.ORDER_MAX_IN_PROGRESS,
      maxLoopDelayMs: config.ORDER_MAX_LOOP_DELAY_MS,
    };
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
      controllers: [OrdersController, OrderRepliesHandler],
      providers: [
        { provide: ORDER_SETTINGS, useValue: settings },
        OrderSagaService,
        SagaScheduler,
        OrderAdmission,
      ],
    };
  }
}
