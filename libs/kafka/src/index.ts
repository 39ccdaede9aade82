export * from './backoff';
export * from './kafka.client';
export * from './kafka.module';
export * from './topics';
export * from './consumer/errors';
export * from './consumer/kafka-consumer.server';
export * from './consumer/kafka-message.context';
export * from './consumer/connect-consumer';
