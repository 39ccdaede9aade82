import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, KeyLike } from 'jose';
import type { AuthSettings } from './auth-settings';
import { TOKEN_ALGORITHMS } from './auth-settings';
import type { Caller } from './caller';

/** A request's token is missing or not acceptable (401); the message says why, for the caller. */
export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
}

/** Tokens cannot be checked right now: the identity provider's key set is out of reach (503). */
export class TokenCheckUnavailable extends Error {
  override readonly name = 'TokenCheckUnavailable';
}

type Enabled = Extract<AuthSettings, { disabled: false }>;

/**
 * Checks bearer tokens (RFC 6750) as JWTs: signature by the configured key or the issuer's JWKS
 * (fetched, cached and refetched on an unknown `kid` as jose does), algorithm among
 * TOKEN_ALGORITHMS, issuer, audience, `exp` (required) and `nbf` with a small clock tolerance, and
 * a subject. What a rejection says names the problem, never the token or a key.
 */
export class TokenVerifier {
  private readonly key: KeyLike | JWTVerifyGetKey;
  private readonly verified = new VerifiedTokens();

  constructor(private readonly settings: Enabled) {
    const { key } = settings;
    this.key = 'jwksUrl' in key ? createRemoteJWKSet(key.jwksUrl) : key.publicKey;
  }

  /** The caller an `Authorization` header names, or TokenRejected / TokenCheckUnavailable. */
  async verify(authorization: string | undefined): Promise<Caller> {
    const token = bearerToken(authorization);
    const known = this.verified.get(token);
    if (known) return known;
    return this.check(token);
  }

  private async check(token: string): Promise<Caller> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as KeyLike, {
        algorithms: [...TOKEN_ALGORITHMS],
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockToleranceS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw explain(error);
    }
    const scopes = scopesOf(payload);
    const caller: Caller = {
      subject: payload.sub,
      scopes,
      operator: scopes.has(this.settings.operatorScope),
    };
    // exp is required, so jwtVerify has checked it is there and a number
    this.verified.add(token, caller, (payload.exp as number) * 1_000 + this.settings.clockToleranceS * 1_000);
    return caller;
  }
}

/**
 * Tokens whose check passed, with their caller: a customer sends the same token with every request
 * until it expires, and its signature check was most of the order service's added CPU per order.
 * A token is taken from here until the moment its check would fail on `exp`, and for a minute at
 * most, so a key the identity provider withdraws stops counting as quickly as jose's JWKS cache
 * lets it. Only the exact token string is found: a token altered in any byte is checked anew.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { caller: Caller; until: number }>();

  constructor(
    private readonly max = 10_000,
    private readonly ttlMs = 60_000,
  ) {}

  get(token: string): Caller | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (Date.now() < entry.until) return entry.caller;
    this.entries.delete(token);
    return undefined;
  }

  /** `expiresAt`: when the token's check would fail (its exp plus the clock tolerance), ms */
  add(token: string, caller: Caller, expiresAt: number): void {
    // the oldest entry goes first (a Map keeps insertion order)
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { caller, until: Math.min(expiresAt, Date.now() + this.ttlMs) });
  }
}

/** The token of `Authorization: Bearer <token>`. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw new TokenRejected('no bearer token: send Authorization: Bearer <token>');
  }
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match?.[1]) throw new TokenRejected('the Authorization header is not of the form Bearer <token>');
  return match[1];
}

/** `scope` (a space-separated string, RFC 8693 and 9068) or `scp` (a list, as some providers send). */
function scopesOf(payload: JWTPayload): Set<string> {
  const scope = payload['scope'] ?? payload['scp'];
  const list = typeof scope === 'string' ? scope.split(' ') : Array.isArray(scope) ? scope : [];
  return new Set(list.filter((s): s is string => typeof s === 'string' && s !== ''));
}

/** jose's error as what the caller is told (by its code: the classes differ between jose's builds). */
function explain(error: unknown): Error {
  const e = error as { code?: string; claim?: string; reason?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return new TokenRejected('the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return new TokenRejected(claimProblem(e.claim, e.reason));
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new TokenRejected('the token’s signature does not verify');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new TokenRejected(`the token’s algorithm is not accepted: use ${TOKEN_ALGORITHMS.join(', ')}`);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new TokenRejected('no key of the issuer matches the token’s key id (kid)');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
    case 'ERR_JWK_INVALID':
      return new TokenRejected('the token is not a well-formed signed JWT');
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return new TokenCheckUnavailable('the identity provider’s key set cannot be fetched', { cause: error });
    default:
      // a JWKS that cannot be reached fails with the transport's error
      return new TokenCheckUnavailable('tokens cannot be checked right now', { cause: error });
  }
}

function claimProblem(claim: string | undefined, reason: string | undefined): string {
  if (claim === 'nbf') return 'the token is not valid yet (nbf)';
  if (reason === 'missing') return `the token has no "${claim}" claim`;
  if (claim === 'iss') return 'the token’s issuer is not the one this service trusts';
  if (claim === 'aud') return 'the token is not meant for this service (aud)';
  return `the token’s "${claim}" claim is not acceptable`;
}
