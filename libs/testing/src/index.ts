export * from './wait-for';
export * from './database-urls';
export * from './test-database';
export * from './test-kafka';
export * from './service-process';
export * from './infrastructure';
export * from './migrated-database';
export * from './test-auth';
