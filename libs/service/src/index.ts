export * from './health.controller';
export * from './run-service';
export * from './service-core.module';
export * from './run-migrations';
export * from './run-seed';
export * from './periodic-task';
export * from './http/zod-validation.pipe';
