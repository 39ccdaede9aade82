import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectionUrl, describeDatabaseError, isDatabaseError } from './connection';
import { postgresDataSourceOptions } from './postgres';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBdGVzdC1jYQ==\n-----END CERTIFICATE-----\n';

/** The TLS settings the pg driver takes from a connection string, as a TypeORM pool's client gets it. */
function sslOf(url: string): unknown {
  const client = new Client({ connectionString: url });
  return (client as unknown as { connectionParameters: { ssl: unknown } }).connectionParameters.ssl;
}

function urlOf(options: ReturnType<typeof postgresDataSourceOptions>): string {
  return (options as { url?: string }).url ?? '';
}

describe('TLS settings of DATABASE_URL', () => {
  let dir: string;
  let caFile: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tcc-ca-'));
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, CA);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const options = (url: string, sslCaFile?: string) =>
    postgresDataSourceOptions({
      url,
      sslCaFile,
      poolSize: 1,
      applicationName: 't',
      entities: [],
      migrations: [],
    });

  it('reach the driver as they are: sslmode, and the CA read from sslrootcert', () => {
    const url = `postgres://tcc_order:pw@db.internal:5432/tcc_order?sslmode=verify-full&sslrootcert=${caFile}`;
    expect(urlOf(options(url))).toBe(url);
    expect(sslOf(urlOf(options(url)))).toEqual({ ca: CA });
    expect(sslOf(urlOf(options('postgres://u@h/db?sslmode=no-verify')))).toEqual({
      rejectUnauthorized: false,
    });
    expect(sslOf(urlOf(options('postgres://u@h/db?sslmode=disable')))).toBe(false);
    expect(sslOf(urlOf(options('postgres://u@h/db')))).toBe(false);
  });

  it('take DATABASE_SSL_CA_FILE as the URL’s sslrootcert, turning TLS on', () => {
    const url = urlOf(options('postgres://tcc_order:pw@db.internal:5432/tcc_order', caFile));
    expect(new URL(url).searchParams.get('sslrootcert')).toBe(caFile);
    expect(sslOf(url)).toEqual({ ca: CA });
    expect(connectionUrl(`postgres://u@h/db?sslrootcert=${caFile}`, caFile)).toBe(
      `postgres://u@h/db?sslrootcert=${encodeURIComponent(caFile)}`,
    );
  });

  it('refuse two different CA files', () => {
    expect(() => connectionUrl('postgres://u@h/db?sslrootcert=/etc/other.pem', caFile)).toThrow(
      /DATABASE_SSL_CA_FILE .* and sslrootcert in DATABASE_URL .* name different CA files/,
    );
  });
});

describe('describeDatabaseError', () => {
  const url = 'postgres://tcc_stock:s3cret@127.0.0.1:5432/tcc_stock?sslmode=require';

  it('names TLS when the server speaks none, and never the password', () => {
    const error = new Error('The server does not support SSL connections');
    expect(isDatabaseError(error)).toBe(true);
    expect(describeDatabaseError(error, url)).toBe(
      'PostgreSQL at postgres://tcc_stock:***@127.0.0.1:5432/tcc_stock?sslmode=require does not accept TLS, which the URL asks for (sslmode, sslrootcert or DATABASE_SSL_CA_FILE): enable ssl on the server, or use sslmode=disable',
    );
  });

  it('names an untrusted certificate as a TLS failure', () => {
    const error = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect(isDatabaseError(error)).toBe(true);
    expect(describeDatabaseError(error, url)).toMatch(/^TLS to PostgreSQL at postgres:\/\/tcc_stock:\*\*\*@/);
    expect(
      isDatabaseError(
        Object.assign(new Error('x'), { name: 'KafkaJSConnectionError', code: 'CERT_HAS_EXPIRED' }),
      ),
    ).toBe(false);
  });

  it('masks the password in every message', () => {
    for (const code of ['ECONNREFUSED', '3D000', '28P01', '42501', 'XX000']) {
      const message = describeDatabaseError(Object.assign(new Error(`failed at ${url}`), { code }), url);
      expect(message).not.toContain('s3cret');
      expect(message).toContain('tcc_stock:***@');
    }
  });
});
