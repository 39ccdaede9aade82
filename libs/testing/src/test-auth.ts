import { authEnvFor, DEV_AUDIENCE, DEV_ISSUER, newSigningKey, signToken } from '@tcc/auth';
import type { AuthConfig } from '@tcc/config';

/*
 * Tests as the services' users: a signing key of the test process's own (what an identity provider
 * holds), the services started with its public key, and tokens for customers and operators.
 */

export const testSigningKey = newSigningKey();

/** The AUTH_* variables of a service that takes this process's test tokens. */
export const testAuthEnv: Record<string, string> = authEnvFor(testSigningKey);

/** The same as parsed settings, for a Nest app built in a test (AuthModule.forRoot). */
export const testAuthConfig: AuthConfig = {
  AUTH_PUBLIC_KEY: testSigningKey.publicKeyPem,
  AUTH_ISSUER: DEV_ISSUER,
  AUTH_AUDIENCE: DEV_AUDIENCE,
  AUTH_CLOCK_TOLERANCE_S: 30,
  AUTH_OPERATOR_SCOPE: 'tcc:operate',
  AUTH_DISABLED: false,
};

const tokens = new Map<string, Promise<string>>();

function cached(key: string, sign: () => Promise<string>): Promise<string> {
  let token = tokens.get(key);
  if (!token) {
    token = sign();
    tokens.set(key, token);
  }
  return token;
}

/** A customer's token (valid for an hour; one per customer and process). */
export function customerToken(customerId: string): Promise<string> {
  return cached(`customer ${customerId}`, () => signToken(testSigningKey, { subject: customerId }));
}

/** An operator's token: it grants the operator scope. */
export function operatorToken(): Promise<string> {
  return cached('operator', () =>
    signToken(testSigningKey, { subject: 'operator', scopes: ['tcc:operate'] }),
  );
}

/** `Authorization` for a customer, or an operator when no customer is given. */
export async function bearer(customerId?: string): Promise<{ authorization: string }> {
  return {
    authorization: `Bearer ${await (customerId === undefined ? operatorToken() : customerToken(customerId))}`,
  };
}
