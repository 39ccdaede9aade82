export * from './postgres';
export * from './connection';
export * from './migrate';
export * from './transformers';
export * from './batch-guard';
export * from './coalescer';
export * from './pg-array';
export * from './service-roles';
