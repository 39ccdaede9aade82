import { z } from 'zod';
import { env } from './env-vars';

/**
 * Who may call a service's HTTP API: bearer tokens (JWTs) signed by an identity provider, checked
 * against its key set (AUTH_JWKS_URL) or one public key (AUTH_PUBLIC_KEY / AUTH_PUBLIC_KEY_FILE),
 * for one issuer and audience. Which of them must be set together is checked where the settings
 * are read (@tcc/auth authSettings), so every problem is named at once.
 */
export const authConfigShape = {
  /** the identity provider's JWKS (https://.../.well-known/jwks.json), fetched and cached by jose */
  AUTH_JWKS_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL of a JSON Web Key Set' })
    .optional(),
  /** one public key instead of a JWKS: PEM (SPKI) or a JWK in JSON; RSA, EC P-256 or Ed25519 */
  AUTH_PUBLIC_KEY: z.string().optional(),
  /** the same, read from a file (a mounted secret) */
  AUTH_PUBLIC_KEY_FILE: z.string().optional(),
  /** the `iss` every token must carry */
  AUTH_ISSUER: z.string().optional(),
  /** an `aud` every token must carry (one of a comma-separated list) */
  AUTH_AUDIENCE: z.string().optional(),
  /** leeway for `exp` and `nbf` against clock skew between the provider and this host */
  AUTH_CLOCK_TOLERANCE_S: env.int({ min: 0, max: 300, fallback: 30 }),
  /** the scope that makes a caller an operator (products, restocks, wallets, top-ups, any order) */
  AUTH_OPERATOR_SCOPE: z
    .string()
    .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be one scope token (no spaces or quotes)')
    .default('tcc:operate'),
  /** only for development: every request is let through as an operator, with a warning on start */
  AUTH_DISABLED: env.boolean(false),
};

export interface AuthConfig {
  AUTH_JWKS_URL?: string | undefined;
  AUTH_PUBLIC_KEY?: string | undefined;
  AUTH_PUBLIC_KEY_FILE?: string | undefined;
  AUTH_ISSUER?: string | undefined;
  AUTH_AUDIENCE?: string | undefined;
  AUTH_CLOCK_TOLERANCE_S: number;
  AUTH_OPERATOR_SCOPE: string;
  AUTH_DISABLED: boolean;
}
