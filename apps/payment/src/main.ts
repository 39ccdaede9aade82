import 'reflect-metadata';
import { Topics } from '@tcc/contracts';
import { consumerOptions, runService } from '@tcc/service';
import { AppModule } from './app.module';
import { paymentCommandSchemas } from './messaging/payment-command.schemas';
import { paymentConfigSchema } from './payment.config';

void runService({
  name: 'payment',
  description: "Participant: customers' wallets (points), top-ups and holds.",
  configSchema: paymentConfigSchema,
  module: (config) => AppModule.register(config),
  consumer: (app, config) => consumerOptions(app, config, [Topics.paymentCommands], paymentCommandSchemas),
});
