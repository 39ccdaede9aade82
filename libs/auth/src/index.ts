export * from './caller';
export * from './auth-settings';
export * from './token-verifier';
export * from './dev-tokens';
