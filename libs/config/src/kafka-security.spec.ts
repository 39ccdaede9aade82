import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, kafkaSecurityOf, kafkaSecuritySchema, loadConfig, serviceConfigSchema } from './index';

const dir = mkdtempSync(join(tmpdir(), 'kafka-security-'));
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const notPem = join(dir, 'not.pem');
writeFileSync(notPem, 'hello\n');

const secret = 'pa55-w0rd-never-shown';

function security(env: Record<string, string>) {
  return kafkaSecurityOf(loadConfig(kafkaSecuritySchema, env));
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('Kafka client security from the environment', () => {
  it('is plain, unauthenticated Kafka when nothing is set', () => {
    expect(security({})).toEqual({ tls: false });
  });

  it('takes SCRAM-SHA-512 over TLS with the given CA', () => {
    expect(
      security({
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'stock',
        KAFKA_SASL_PASSWORD: secret,
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: caFile,
      }),
    ).toEqual({
      tls: { caFile },
      sasl: { mechanism: 'scram-sha-512', username: 'stock', password: secret },
    });
  });

  it('defaults the mechanism to SCRAM-SHA-512, reads it in any case, and trusts the system CAs without a CA file', () => {
    expect(security({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: secret, KAFKA_SSL: 'true' })).toEqual({
      tls: {},
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: secret },
    });
    expect(
      security({
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: secret,
      }).sasl?.mechanism,
    ).toBe('scram-sha-256');
    expect(security({ KAFKA_SSL: 'true' })).toEqual({ tls: {} });
  });

  it.each([
    [{ KAFKA_SASL_USERNAME: 'order' }, 'KAFKA_SASL_USERNAME is set but KAFKA_SASL_PASSWORD is not'],
    [{ KAFKA_SASL_PASSWORD: secret }, 'KAFKA_SASL_PASSWORD is set but KAFKA_SASL_USERNAME is not'],
    [
      { KAFKA_SASL_MECHANISM: 'scram-sha-512' },
      'KAFKA_SASL_MECHANISM is set but KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are not',
    ],
    [
      { KAFKA_SSL_CA_FILE: caFile },
      'KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true (a CA is only used over TLS)',
    ],
  ])('names the combination that cannot work: %j', (env, problem) => {
    expect(problemsOf(() => security(env))).toEqual([problem]);
  });

  it.each([
    [
      'KAFKA_SSL_CA_FILE',
      join(dir, 'missing.pem'),
      `KAFKA_SSL_CA_FILE: must be a readable file with a PEM certificate (the CA to trust) (got "${join(dir, 'missing.pem')}")`,
    ],
    [
      'KAFKA_SSL_CA_FILE',
      notPem,
      `KAFKA_SSL_CA_FILE: must be a readable file with a PEM certificate (the CA to trust) (got "${notPem}")`,
    ],
    [
      'KAFKA_SASL_MECHANISM',
      'gssapi',
      'KAFKA_SASL_MECHANISM: must be one of scram-sha-512, scram-sha-256, plain (got "gssapi")',
    ],
    ['KAFKA_SSL', 'yes', 'KAFKA_SSL: must be true or false (got "yes")'],
  ])('rejects %s=%s with a message naming it', (name, value, problem) => {
    expect(problemsOf(() => loadConfig(kafkaSecuritySchema, { KAFKA_SSL: 'true', [name]: value }))).toEqual([
      problem,
    ]);
  });

  it('never repeats the password in a problem', () => {
    const problems = problemsOf(() =>
      security({ KAFKA_SASL_PASSWORD: secret, KAFKA_SASL_MECHANISM: 'nope', KAFKA_SSL: 'maybe' }),
    );
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).not.toContain(secret);
  });

  it('is part of every service configuration', () => {
    const config = loadConfig(serviceConfigSchema, {
      PORT: '3000',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tcc_order',
      KAFKA_BROKERS: '127.0.0.1:9092',
      KAFKA_SASL_USERNAME: 'order',
      KAFKA_SASL_PASSWORD: secret,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: caFile,
    });
    expect(kafkaSecurityOf(config)).toEqual({
      tls: { caFile },
      sasl: { mechanism: 'scram-sha-512', username: 'order', password: secret },
    });
  });
});
