import { generateKeyPairSync } from 'node:crypto';
import { ConfigError } from '@tcc/config';
import { authSettings } from './auth-settings';
import { newSigningKey } from './dev-tokens';

const base = {
  AUTH_ISSUER: 'https://id.example.com/',
  AUTH_AUDIENCE: 'tcc-saga',
  AUTH_CLOCK_TOLERANCE_S: 30,
  AUTH_OPERATOR_SCOPE: 'tcc:operate',
  AUTH_DISABLED: false,
};

function problems(config: Parameters<typeof authSettings>[0]): readonly string[] {
  try {
    authSettings(config);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('authSettings', () => {
  it('given no way to verify tokens, then the service must not start, and says what to set', () => {
    expect(problems({ ...base, AUTH_ISSUER: undefined, AUTH_AUDIENCE: undefined })).toEqual([
      expect.stringMatching(/^no way to verify tokens: set AUTH_JWKS_URL .* or AUTH_DISABLED=true/),
      expect.stringMatching(/^AUTH_ISSUER is required/),
      expect.stringMatching(/^AUTH_AUDIENCE is required/),
    ]);
  });

  it('given AUTH_DISABLED, then nothing else is needed', () => {
    expect(authSettings({ ...base, AUTH_DISABLED: true })).toEqual({
      disabled: true,
      operatorScope: 'tcc:operate',
    });
  });

  it('given a public key in PEM or JWK, then it is taken; an audience list is split', () => {
    const key = newSigningKey();
    const pem = authSettings({ ...base, AUTH_PUBLIC_KEY: key.publicKeyPem, AUTH_AUDIENCE: 'a, b' });
    expect(pem).toMatchObject({ disabled: false, audience: ['a', 'b'], issuer: 'https://id.example.com/' });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = JSON.stringify(publicKey.export({ format: 'jwk' }));
    expect(authSettings({ ...base, AUTH_PUBLIC_KEY: jwk })).toMatchObject({ disabled: false });
  });

  it('given a private key, a shared secret, two sources or an unreadable file, then each is named', () => {
    expect(problems({ ...base, AUTH_PUBLIC_KEY: newSigningKey().privateKeyPem })).toEqual([
      'AUTH_PUBLIC_KEY holds a private key: give the public key only',
    ]);
    expect(problems({ ...base, AUTH_PUBLIC_KEY: '{"kty":"oct","k":"c2VjcmV0"}' })).toEqual([
      expect.stringMatching(/is a shared secret: only asymmetric keys/),
    ]);
    expect(problems({ ...base, AUTH_PUBLIC_KEY: 'x', AUTH_JWKS_URL: 'https://id.example.com/jwks' })).toEqual(
      ['set only one of AUTH_JWKS_URL, AUTH_PUBLIC_KEY and AUTH_PUBLIC_KEY_FILE'],
    );
    expect(problems({ ...base, AUTH_PUBLIC_KEY_FILE: '/nonexistent/key.pem' })).toEqual([
      expect.stringMatching(/^AUTH_PUBLIC_KEY_FILE: cannot read \/nonexistent\/key.pem/),
    ]);
    expect(problems({ ...base, AUTH_PUBLIC_KEY: 'hello' })).toEqual([
      'AUTH_PUBLIC_KEY is not a public key in PEM (SPKI) or JWK form',
    ]);
  });
});
