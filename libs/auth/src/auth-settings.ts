import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@tcc/config';
import type { AuthConfig } from '@tcc/config';

/** The signature algorithms accepted: asymmetric only, so `none` and every HS* are refused. */
export const TOKEN_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

export type TokenKey = { jwksUrl: URL } | { publicKey: KeyObject };

export type AuthSettings =
  | { disabled: true; operatorScope: string }
  | {
      disabled: false;
      key: TokenKey;
      issuer: string;
      audience: string[];
      clockToleranceS: number;
      operatorScope: string;
    };

/**
 * The verified settings of the AUTH_* variables, or a ConfigError naming every problem: a
 * service never starts without a way to check tokens unless AUTH_DISABLED=true says so.
 */
export function authSettings(config: AuthConfig): AuthSettings {
  const operatorScope = config.AUTH_OPERATOR_SCOPE;
  if (config.AUTH_DISABLED) return { disabled: true, operatorScope };
  const problems: string[] = [];
  const sources = [config.AUTH_JWKS_URL, config.AUTH_PUBLIC_KEY, config.AUTH_PUBLIC_KEY_FILE].filter(
    (v) => v !== undefined,
  );
  if (sources.length !== 1) {
    problems.push(
      sources.length === 0
        ? 'no way to verify tokens: set AUTH_JWKS_URL (the identity provider’s key set) or AUTH_PUBLIC_KEY / AUTH_PUBLIC_KEY_FILE, or AUTH_DISABLED=true for development only'
        : 'set only one of AUTH_JWKS_URL, AUTH_PUBLIC_KEY and AUTH_PUBLIC_KEY_FILE',
    );
  }
  if (!config.AUTH_ISSUER) problems.push('AUTH_ISSUER is required: the `iss` every token must carry');
  const audience = (config.AUTH_AUDIENCE ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (audience.length === 0) problems.push('AUTH_AUDIENCE is required: the `aud` every token must carry');
  let key: TokenKey | undefined;
  if (sources.length === 1) {
    try {
      key = config.AUTH_JWKS_URL
        ? { jwksUrl: new URL(config.AUTH_JWKS_URL) }
        : { publicKey: publicKeyOf(config) };
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0 || !key || !config.AUTH_ISSUER) throw new ConfigError(problems);
  return {
    disabled: false,
    key,
    issuer: config.AUTH_ISSUER,
    audience,
    clockToleranceS: config.AUTH_CLOCK_TOLERANCE_S,
    operatorScope,
  };
}

const KEY_TYPES = new Set(['rsa', 'ec', 'ed25519']);

/** AUTH_PUBLIC_KEY(_FILE) as a public key: PEM (SPKI) or a JWK in JSON. */
function publicKeyOf(config: AuthConfig): KeyObject {
  const name = config.AUTH_PUBLIC_KEY_FILE ? 'AUTH_PUBLIC_KEY_FILE' : 'AUTH_PUBLIC_KEY';
  let text: string;
  try {
    text = config.AUTH_PUBLIC_KEY_FILE
      ? readFileSync(config.AUTH_PUBLIC_KEY_FILE, 'utf8')
      : (config.AUTH_PUBLIC_KEY ?? '');
  } catch (error) {
    throw new Error(`${name}: cannot read ${config.AUTH_PUBLIC_KEY_FILE}: ${(error as Error).message}`);
  }
  text = text.trim();
  if (/PRIVATE KEY/.test(text) || /"d"\s*:/.test(text)) {
    throw new Error(`${name} holds a private key: give the public key only`);
  }
  if (/"kty"\s*:\s*"oct"/.test(text)) {
    throw new Error(`${name} is a shared secret: only asymmetric keys are accepted (RSA, EC P-256, Ed25519)`);
  }
  let key: KeyObject;
  try {
    key = text.startsWith('{')
      ? createPublicKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKey, format: 'jwk' })
      : createPublicKey(text);
  } catch {
    throw new Error(`${name} is not a public key in PEM (SPKI) or JWK form`);
  }
  if (!KEY_TYPES.has(key.asymmetricKeyType ?? '')) {
    throw new Error(`${name} is a ${key.asymmetricKeyType} key: use RSA, EC P-256 or Ed25519`);
  }
  return key;
}
