import 'reflect-metadata';
import { Topics } from '@tcc/contracts';
import { consumerOptions, runService } from '@tcc/service';
import { AppModule } from './app.module';
import { orderReplySchemas } from './messaging/order-reply.schemas';
import { orderConfigSchema } from './order.config';

void runService({
  name: 'order',
  configSchema: orderConfigSchema,
  module: (config) => AppModule.register(config),
  consumer: (app, config) => consumerOptions(app, config, [Topics.orderReplies], orderReplySchemas),
});
