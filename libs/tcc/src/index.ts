export * from './fence-rules';
