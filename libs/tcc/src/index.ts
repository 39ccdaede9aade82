export * from './domain/fence-rules';
export * from './domain/buckets';
export * from './domain/branch';
export * from './domain/ledger';
export * from './engine/participant';
export * from './engine/participant-engine';
export * from './engine/participant.providers';
