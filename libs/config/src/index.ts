export * from './load-config';
export * from './env-vars';
export * from './service-config';
export * from './auth-config';
export * from './kafka-security';
