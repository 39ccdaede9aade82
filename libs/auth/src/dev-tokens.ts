import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';

/*
 * A development identity provider: one Ed25519 key pair kept outside the repository (./dev keeps
 * it in the cache directory), the services started with its public key, and tokens signed for a
 * customer or an operator. Tests, the benchmark and the chaos run sign their tokens the same way.
 * Production uses a real identity provider's JWKS instead (README, Security).
 */

/** The issuer and audience of development tokens, which ./dev starts the services with. */
export const DEV_ISSUER = 'tcc-saga-dev';
export const DEV_AUDIENCE = 'tcc-saga';

export interface SigningKey {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** A new Ed25519 key pair, in PEM. */
export function newSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The key pair in `dir` (signing.key, signing.pub), created there (private key 0600) if missing. */
export function devSigningKey(dir: string): SigningKey {
  const privateFile = join(dir, 'signing.key');
  const publicFile = join(dir, 'signing.pub');
  if (!existsSync(privateFile) || !existsSync(publicFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = newSigningKey();
    // written aside and renamed, so a concurrent reader never sees half a key
    writeFileSync(`${privateFile}.tmp`, key.privateKeyPem, { mode: 0o600 });
    chmodSync(`${privateFile}.tmp`, 0o600);
    writeFileSync(`${publicFile}.tmp`, key.publicKeyPem);
    renameSync(`${publicFile}.tmp`, publicFile);
    renameSync(`${privateFile}.tmp`, privateFile);
  }
  return { privateKeyPem: readFileSync(privateFile, 'utf8'), publicKeyPem: readFileSync(publicFile, 'utf8') };
}

export interface TokenClaims {
  /** the customer id, or an operator's name */
  subject: string;
  scopes?: readonly string[];
  /** seconds from now until it expires (default one hour); negative for one that has expired */
  expiresInS?: number;
  /** seconds from now before which it is not valid yet */
  notBeforeS?: number;
  issuer?: string;
  audience?: string;
}

/** A JWT signed with `key` (EdDSA), as an identity provider would issue it. */
export function signToken(key: SigningKey | string, claims: TokenClaims): Promise<string> {
  const pem = typeof key === 'string' ? key : key.privateKeyPem;
  const now = Math.floor(Date.now() / 1000);
  const payload = claims.scopes?.length ? { scope: claims.scopes.join(' ') } : {};
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(claims.subject)
    .setIssuer(claims.issuer ?? DEV_ISSUER)
    .setAudience(claims.audience ?? DEV_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.expiresInS ?? 3600));
  if (claims.notBeforeS !== undefined) jwt.setNotBefore(now + claims.notBeforeS);
  return jwt.sign(createPrivateKey(pem));
}

/** The AUTH_* variables that make a service accept tokens signed with `key`. */
export function authEnvFor(key: SigningKey): Record<string, string> {
  return { AUTH_PUBLIC_KEY: key.publicKeyPem, AUTH_ISSUER: DEV_ISSUER, AUTH_AUDIENCE: DEV_AUDIENCE };
}
