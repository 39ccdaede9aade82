import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { describeDatabaseError } from './connection';
import { postgresDataSourceOptions } from './postgres';

function testUrl(params = ''): string {
  const url = process.env['TEST_DATABASE_URL'];
  if (!url) throw new Error('TEST_DATABASE_URL is not set (the global test setup sets it)');
  const u = new URL(url);
  u.search = params;
  return u.toString();
}

/** Connects a data source as a service does; resolves to the error, or undefined when it connected. */
async function connectError(url: string, sslCaFile?: string): Promise<unknown> {
  const db = new DataSource(
    postgresDataSourceOptions({
      url,
      sslCaFile,
      poolSize: 1,
      applicationName: 'tls-test',
      entities: [],
      migrations: [],
    }),
  );
  try {
    await db.initialize();
    await db.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error;
  } finally {
    if (db.isInitialized) await db.destroy();
  }
}

/**
 * TLS settings reach the pg driver through TypeORM: against the tests' server, which speaks no TLS
 * (the project's own cluster, the testcontainer), asking for TLS must fail, and say why.
 */
describe('TLS settings of DATABASE_URL (real PostgreSQL)', () => {
  let dir: string;
  let caFile: string;

  beforeAll(async () => {
    expect(await connectError(testUrl())).toBeUndefined();
    dir = mkdtempSync(join(tmpdir(), 'tcc-ca-'));
    caFile = join(dir, 'ca.pem');
    // never read by a handshake: the server declines TLS before any certificate is looked at
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails with sslmode=require against a server without TLS, with a message naming TLS', async () => {
    const url = testUrl('sslmode=require');
    const error = await connectError(url);
    expect(error).toMatchObject({ message: 'The server does not support SSL connections' });
    expect(describeDatabaseError(error, url)).toMatch(
      /^PostgreSQL at .* does not accept TLS, which the URL asks for/,
    );
  });

  it('fails likewise with sslmode=verify-full and a CA, and with DATABASE_SSL_CA_FILE alone', async () => {
    expect(await connectError(testUrl(`sslmode=verify-full&sslrootcert=${caFile}`))).toMatchObject({
      message: 'The server does not support SSL connections',
    });
    expect(await connectError(testUrl(), caFile)).toMatchObject({
      message: 'The server does not support SSL connections',
    });
  });

  it('connects in plain text with sslmode=disable', async () => {
    expect(await connectError(testUrl('sslmode=disable'))).toBeUndefined();
  });
});
