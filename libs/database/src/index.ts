export * from './postgres';
export * from './migrate';
export * from './transformers';
