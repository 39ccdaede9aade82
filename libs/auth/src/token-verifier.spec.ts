import { createPrivateKey, createSecretKey, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { exportJWK, SignJWT } from 'jose';
import { authSettings } from './auth-settings';
import type { AuthSettings } from './auth-settings';
import { DEV_AUDIENCE, DEV_ISSUER, newSigningKey, signToken } from './dev-tokens';
import { TokenCheckUnavailable, TokenRejected, TokenVerifier } from './token-verifier';

const key = newSigningKey();
const config = {
  AUTH_PUBLIC_KEY: key.publicKeyPem,
  AUTH_ISSUER: DEV_ISSUER,
  AUTH_AUDIENCE: DEV_AUDIENCE,
  AUTH_CLOCK_TOLERANCE_S: 30,
  AUTH_OPERATOR_SCOPE: 'tcc:operate',
  AUTH_DISABLED: false,
};

function verifierFor(settings: AuthSettings): TokenVerifier {
  if (settings.disabled) throw new Error('expected enabled settings');
  return new TokenVerifier(settings);
}

const verifier = verifierFor(authSettings(config));

async function rejection(authorization: string | undefined, by = verifier): Promise<string> {
  const error = await by.verify(authorization).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TokenRejected)) throw new Error(`expected a rejection, got ${String(error)}`);
  return error.message;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('TokenVerifier', () => {
  it('given a customer token, then the caller is its subject, not an operator', async () => {
    const caller = await verifier.verify(`Bearer ${await signToken(key, { subject: 'alice' })}`);
    expect(caller).toEqual({ subject: 'alice', scopes: new Set(), operator: false });
  });

  it('given the operator scope among others (scope or scp), then the caller is an operator', async () => {
    const token = await signToken(key, { subject: 'ops', scopes: ['openid', 'tcc:operate'] });
    expect((await verifier.verify(`bearer ${token}`)).operator).toBe(true);
    const scp = await new SignJWT({ scp: ['tcc:operate'] })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('ops')
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setExpirationTime('1h')
      .sign(createPrivateKey(key.privateKeyPem));
    expect((await verifier.verify(`Bearer ${scp}`)).operator).toBe(true);
  });

  it('given no header or another scheme, then it is rejected saying how to send a token', async () => {
    expect(await rejection(undefined)).toBe('no bearer token: send Authorization: Bearer <token>');
    expect(await rejection('Basic YWxpY2U6c2VjcmV0')).toMatch(/not of the form Bearer <token>/);
    expect(await rejection('Bearer not a token')).toMatch(/not of the form Bearer <token>/);
    expect(await rejection('Bearer abc.def')).toMatch(/not a well-formed signed JWT/);
  });

  it('given an expired token, or one not valid yet, beyond the clock tolerance, then it is rejected', async () => {
    expect(await rejection(`Bearer ${await signToken(key, { subject: 'a', expiresInS: -31 })}`)).toBe(
      'the token has expired',
    );
    expect(await rejection(`Bearer ${await signToken(key, { subject: 'a', notBeforeS: 60 })}`)).toBe(
      'the token is not valid yet (nbf)',
    );
  });

  it('given a token expired within the clock tolerance, then it is still taken', async () => {
    const token = await signToken(key, { subject: 'a', expiresInS: -5 });
    expect((await verifier.verify(`Bearer ${token}`)).subject).toBe('a');
  });

  describe('a token taken before', () => {
    // only the clock is faked: jose's crypto runs on real timers
    beforeEach(() =>
      jest.useFakeTimers({
        now: Date.now(),
        doNotFake: [
          'nextTick',
          'setImmediate',
          'clearImmediate',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'queueMicrotask',
          'hrtime',
          'performance',
        ],
      }),
    );
    afterEach(() => jest.useRealTimers());

    it('given the same token again, then it names the same caller', async () => {
      const mine = verifierFor(authSettings(config));
      const header = `Bearer ${await signToken(key, { subject: 'carol', scopes: ['tcc:operate'] })}`;
      const first = await mine.verify(header);
      expect(await mine.verify(header)).toEqual(first);
      expect(first).toMatchObject({ subject: 'carol', operator: true });
    });

    it('given its exp and the clock tolerance have passed since, then it is rejected as expired', async () => {
      const mine = verifierFor(authSettings(config));
      const header = `Bearer ${await signToken(key, { subject: 'dave', expiresInS: 10 })}`;
      expect((await mine.verify(header)).subject).toBe('dave');
      jest.setSystemTime(Date.now() + 41_000);
      expect(await rejection(header, mine)).toBe('the token has expired');
    });
  });

  it('given a token signed by another key, then its signature does not verify', async () => {
    const token = await signToken(newSigningKey(), { subject: 'alice' });
    expect(await rejection(`Bearer ${token}`)).toBe('the token’s signature does not verify');
  });

  it('given alg none, or HS256 keyed with the public key, then the algorithm is refused', async () => {
    const claims = {
      sub: 'alice',
      iss: DEV_ISSUER,
      aud: DEV_AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 60,
    };
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expect(await rejection(`Bearer ${none}`)).toBe(
      'the token’s algorithm is not accepted: use RS256, ES256, EdDSA',
    );
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(createSecretKey(Buffer.from(key.publicKeyPem)));
    expect(await rejection(`Bearer ${hs}`)).toBe(
      'the token’s algorithm is not accepted: use RS256, ES256, EdDSA',
    );
  });

  it('given another issuer or audience, or no exp or sub, then it is rejected naming the claim', async () => {
    expect(await rejection(`Bearer ${await signToken(key, { subject: 'a', issuer: 'evil' })}`)).toBe(
      'the token’s issuer is not the one this service trusts',
    );
    expect(await rejection(`Bearer ${await signToken(key, { subject: 'a', audience: 'other' })}`)).toBe(
      'the token is not meant for this service (aud)',
    );
    const pk = createPrivateKey(key.privateKeyPem);
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('a')
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .sign(pk);
    expect(await rejection(`Bearer ${noExp}`)).toBe('the token has no "exp" claim');
    const noSub = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE)
      .setExpirationTime('1h')
      .sign(pk);
    expect(await rejection(`Bearer ${noSub}`)).toBe('the token has no "sub" claim');
  });

  it('given RS256 and ES256 keys, then their tokens verify too', async () => {
    for (const [type, alg, options] of [
      ['rsa', 'RS256', { modulusLength: 2048 }],
      ['ec', 'ES256', { namedCurve: 'P-256' }],
    ] as const) {
      const pair = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
      const v = verifierFor(
        authSettings({
          ...config,
          AUTH_PUBLIC_KEY: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        }),
      );
      const token = await new SignJWT({})
        .setProtectedHeader({ alg })
        .setSubject('bob')
        .setIssuer(DEV_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setExpirationTime('1h')
        .sign(pair.privateKey);
      expect((await v.verify(`Bearer ${token}`)).subject).toBe('bob');
    }
  });

  describe('with a JWKS URL', () => {
    let server: Server;
    let url: string;
    const jwksKey = newSigningKey();

    beforeAll(async () => {
      const jwk = { ...(await exportJWK(createPrivateKey(jwksKey.privateKeyPem))), kid: 'k1', alg: 'EdDSA' };
      delete (jwk as { d?: string }).d;
      server = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const address = server.address() as { port: number };
      url = `http://127.0.0.1:${address.port}/jwks.json`;
    });

    afterAll(() => server.close());

    const signed = (kid: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setSubject('carol')
        .setIssuer(DEV_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setExpirationTime('1h')
        .sign(createPrivateKey(jwksKey.privateKeyPem));

    it('given a token with a known kid, then it verifies; with an unknown kid, then it is rejected', async () => {
      const v = verifierFor(authSettings({ ...config, AUTH_PUBLIC_KEY: undefined, AUTH_JWKS_URL: url }));
      expect((await v.verify(`Bearer ${await signed('k1')}`)).subject).toBe('carol');
      expect(await rejection(`Bearer ${await signed('k2')}`, v)).toBe(
        'no key of the issuer matches the token’s key id (kid)',
      );
    });

    it('given a key set out of reach, then tokens cannot be checked (not a rejection)', async () => {
      const v = verifierFor(
        authSettings({
          ...config,
          AUTH_PUBLIC_KEY: undefined,
          AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks.json',
        }),
      );
      await expect(v.verify(`Bearer ${await signed('k1')}`)).rejects.toBeInstanceOf(TokenCheckUnavailable);
    });
  });
});
