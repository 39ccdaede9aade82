import 'reflect-metadata';
import { Topics } from '@tcc/contracts';
import { consumerOptions, runService } from '@tcc/service';
import { AppModule } from './app.module';
import { stockCommandSchemas } from './messaging/stock-command.schemas';
import { stockConfigSchema } from './stock.config';

void runService({
  name: 'stock',
  description: 'Participant: the catalog (products, prices, quantities) and its reservations.',
  configSchema: stockConfigSchema,
  module: (config) => AppModule.register(config),
  consumer: (app, config) => consumerOptions(app, config, [Topics.stockCommands], stockCommandSchemas),
});
