export * from './logger.module';
export * from './correlation';
export * from './boot-logger';
export * from './metrics';
export * from './trace-context';
export * from './redact';
