import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { crashTakeoverMs } from '@tcc/config';
import { CALLER_RATE_LIMIT, ServiceCoreModule } from '@tcc/service';
import type { CallerRateLimit } from '@tcc/service';
import { OrderAdmission } from './application/order-admission';
import { OrderSagaService } from './application/order-saga.service';
import { OrdersController } from './http/orders.controller';
import { CommandSender } from './messaging/command-sender';
import { OrderRepliesHandler } from './messaging/order-replies.handler';
import type { OrderConfig } from './order.config';
import { ORDER_SETTINGS } from './order.settings';
import type { OrderSettings } from './order.settings';
import { OrderRepository } from './persistence/order.repository';
import { orderMigrations } from './persistence/schema';
import { SagaScheduler } from './scheduling/saga-scheduler';

/**
 * The order service, by where a message comes in and what it may touch:
 * - http/         POST /orders and GET /orders/:id (a request in, from a customer's or an operator's token)
 * - messaging/    the participants' replies (Kafka in) and the commands sent after commit (Kafka out)
 * - scheduling/   try deadlines and re-sends (time)
 * - application/  the use cases the three above call: read an order, step the saga, write
 * - saga/         the saga's rules, pure: no database, Kafka, clock or Nest
 * - persistence/  the database: every statement (order.sql.ts) and the migrations
 */
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
      crashTakeoverMs: crashTakeoverMs(config),
    };
    return {
      module: AppModule,
      imports: [
        ServiceCoreModule.forRoot({
          service: 'order',
          config,
          // the schema is the migrations'; every statement is the repository's own SQL
          entities: [],
          migrations: orderMigrations,
        }),
      ],
      controllers: [OrdersController, OrderRepliesHandler],
      providers: [
        { provide: ORDER_SETTINGS, useValue: settings },
        {
          provide: CALLER_RATE_LIMIT,
          useValue: {
            max: config.ORDER_RATE_LIMIT_PER_MINUTE,
            windowMs: 60_000,
            what: 'orders',
          } satisfies CallerRateLimit,
        },
        CommandSender,
        OrderRepository,
        OrderSagaService,
        SagaScheduler,
        OrderAdmission,
      ],
    };
  }
}
