import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tcc/config';
import { describeKafkaSecurity, kafkaSecurityFromEnv, kafkaSecurityOptions } from './kafka-security';

const dir = mkdtempSync(join(tmpdir(), 'kafka-security-options-'));
const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, pem);

describe("kafkajs' ssl and sasl options", () => {
  it('are empty for a plain client', () => {
    expect(kafkaSecurityOptions({ tls: false })).toEqual({});
    expect(kafkaSecurityFromEnv({})).toEqual({});
  });

  it("trust only the CA file's certificate when one is given, else the system's", () => {
    expect(kafkaSecurityOptions({ tls: { caFile } })).toEqual({ ssl: { ca: [pem] } });
    expect(kafkaSecurityOptions({ tls: {} })).toEqual({ ssl: true });
  });

  it.each(['scram-sha-512', 'scram-sha-256', 'plain'] as const)('carry %s credentials', (mechanism) => {
    expect(
      kafkaSecurityOptions({ tls: false, sasl: { mechanism, username: 'stock', password: 'p' } }),
    ).toEqual({ sasl: { mechanism, username: 'stock', password: 'p' } });
  });

  it('come from the same variables as the services read', () => {
    expect(
      kafkaSecurityFromEnv({
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: caFile,
        KAFKA_SASL_USERNAME: 'admin',
        KAFKA_SASL_PASSWORD: 'secret',
        UNRELATED: 'x',
      }),
    ).toEqual({
      ssl: { ca: [pem] },
      sasl: { mechanism: 'scram-sha-512', username: 'admin', password: 'secret' },
    });
  });

  it('are refused with a ConfigError naming the variables that do not fit', () => {
    expect(() => kafkaSecurityFromEnv({ KAFKA_SASL_USERNAME: 'admin' })).toThrow(ConfigError);
    expect(() => kafkaSecurityFromEnv({ KAFKA_SASL_USERNAME: 'admin' })).toThrow(
      'KAFKA_SASL_USERNAME is set but KAFKA_SASL_PASSWORD is not',
    );
    expect(() =>
      kafkaSecurityFromEnv({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: join(dir, 'none.pem') }),
    ).toThrow(/KAFKA_SSL_CA_FILE: must be a readable file with a PEM certificate/);
  });
});

describe('describeKafkaSecurity', () => {
  it('says who connects and how, never with the password', () => {
    const sasl = { mechanism: 'scram-sha-512', username: 'order', password: 'hunter2' } as const;
    expect(describeKafkaSecurity({ tls: {}, sasl })).toBe(' as order (SCRAM-SHA-512, TLS)');
    expect(describeKafkaSecurity({ tls: false, sasl })).toBe(' as order (SCRAM-SHA-512, no TLS)');
    expect(describeKafkaSecurity({ tls: {} })).toBe(' (TLS, no credentials)');
    expect(describeKafkaSecurity({ tls: false })).toBe('');
    expect(describeKafkaSecurity(undefined)).toBe('');
  });
});
