export * from './outbox.migration';
export * from './outbox-writer';
export * from './outbox-relay';
export * from './outbox.module';
export * from './direct-publisher';
export * from './kafka-message';
