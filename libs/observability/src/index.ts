export * from './logger.module';
export * from './correlation';
export * from './boot-logger';
