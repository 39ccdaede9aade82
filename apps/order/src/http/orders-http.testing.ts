import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { createMessage } from '@tcc/contracts';
import { CALLER_RATE_LIMIT, serveControllers } from '@tcc/service';
import type { CallerRateLimit } from '@tcc/service';
import { migratedTestDatabase, testAuthConfig } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { OrderAdmission } from '../application/order-admission';
import { OrderSagaService } from '../application/order-saga.service';
import { CommandSender } from '../messaging/command-sender';
import { ORDER_SETTINGS } from '../order.settings';
import type { OrderSettings } from '../order.settings';
import { OrderRepository } from '../persistence/order.repository';
import { orderMigrations } from '../persistence/schema';
import { OrdersController } from './orders.controller';

/** The orders API as the service serves it (tokens checked, errors shaped), on a database of its own. */
export interface OrdersHttp {
  database: MigratedDatabase;
  db: DataSource;
  app: NestFastifyApplication;
  base: string;
  orders: OrderSagaService;
  admission: OrderAdmission;
  /** Ends an order at once: its only line is out of stock. */
  outOfStock(orderId: string): Promise<void>;
  close(): Promise<void>;
}

export const TEST_ORDER_SETTINGS: OrderSettings = {
  tryTimeoutMs: 60_000,
  confirmWindowMs: 60_000,
  retryInitialMs: 30_000,
  retryMaxMs: 300_000,
  schedulerIntervalMs: 1_000,
  maxInProgress: 2,
  maxLoopDelayMs: 100,
  crashTakeoverMs: 8_000,
};

export async function ordersHttp(
  label: string,
  settings: OrderSettings,
  rateLimit: Omit<CallerRateLimit, 'what'> = { max: 1_000, windowMs: 60_000 },
): Promise<OrdersHttp> {
  const database = await migratedTestDatabase(label, [], orderMigrations);
  const db = database.db;
  const { app, base } = await serveControllers(
    {
      controllers: [OrdersController],
      providers: [
        CommandSender,
        OrderRepository,
        OrderSagaService,
        OrderAdmission,
        { provide: ORDER_SETTINGS, useValue: settings },
        { provide: CALLER_RATE_LIMIT, useValue: { ...rateLimit, what: 'orders' } },
        { provide: getDataSourceToken(), useValue: db },
      ],
    },
    testAuthConfig,
  );
  const orders = app.get(OrderSagaService);
  return {
    database,
    db,
    app,
    base,
    orders,
    admission: app.get(OrderAdmission),
    async outOfStock(orderId: string) {
      const [line] = await db.query<{ product_id: string }[]>(
        'SELECT product_id FROM order_lines WHERE order_id = $1',
        [orderId],
      );
      if (!line) throw new Error(`order ${orderId} has no line`);
      await orders.handleReply(
        createMessage(
          'StockRejected',
          { orderId, productId: line.product_id, reason: 'OUT_OF_STOCK' },
          { correlationId: orderId },
        ),
      );
      if ((await orders.view(orderId))?.status !== 'CANCELLED')
        throw new Error(`order ${orderId} did not end`);
    },
    async close() {
      await app.close();
      await database.drop();
    },
  };
}
