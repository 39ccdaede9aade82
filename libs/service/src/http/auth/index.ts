export * from './access';
export * from './authenticator';
export * from './auth.module';
export * from './bearer-auth.guard';
export * from './caller-rate-limit.guard';
export * from './current-caller';
