import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { OUTBOX_RELAY_OPTIONS, OutboxRelay } from './outbox-relay';
import type { OutboxRelayOptions } from './outbox-relay';
import { DirectPublisher } from './direct-publisher';

@Module({})
export class OutboxModule {
  static forRoot(options: OutboxRelayOptions): DynamicModule {
    return {
      module: OutboxModule,
      providers: [{ provide: OUTBOX_RELAY_OPTIONS, useValue: options }, OutboxRelay, DirectPublisher],
      exports: [OutboxRelay, DirectPublisher],
    };
  }
}
