import 'reflect-metadata';
import { Topics } from '@tcc/contracts';
import { consumerOptions, runService } from '@tcc/service';
import { AppModule } from './app.module';
import { orderReplySchemas } from './messaging/order-reply.schemas';
import { orderConfigSchema } from './order.config';

void runService({
  name: 'order',
  description: 'The coordinator: place orders (POST /orders) and follow their TCC saga (GET /orders/:id).',
  configSchema: orderConfigSchema,
  module: (config) => AppModule.register(config),
  consumer: (app, config) => consumerOptions(app, config, [Topics.orderReplies], orderReplySchemas),
});
