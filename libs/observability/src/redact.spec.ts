import { Writable } from 'node:stream';
import pino from 'pino';
import type { Options } from 'pino-http';
import { pinoParams } from './logger.module';
import { maskUrlPassword, maskUrlPasswords, secretRedaction } from './redact';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl';
const PASSWORD = 'pw-4f1c9a';

/** A pino logger with the services' own options, writing into an array of parsed lines. */
function serviceLogger(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const [options] = pinoParams({ service: 'test', level: 'info' }).pinoHttp as [Options, unknown];
  return { log: pino(options as pino.LoggerOptions, sink), lines };
}

describe('maskUrlPassword', () => {
  it('replaces the password and keeps user, host, database and parameters', () => {
    expect(
      maskUrlPassword(`postgres://tcc_order:${PASSWORD}@db.internal:5432/tcc_order?sslmode=verify-full`),
    ).toBe('postgres://tcc_order:***@db.internal:5432/tcc_order?sslmode=verify-full');
  });

  it('returns a URL without a password as it was', () => {
    expect(maskUrlPassword('postgres://postgres@127.0.0.1:15432/tcc_order')).toBe(
      'postgres://postgres@127.0.0.1:15432/tcc_order',
    );
    expect(maskUrlPassword('http://127.0.0.1:3000')).toBe('http://127.0.0.1:3000');
  });

  it('masks a password holding @ or reserved characters, and what no URL parser reads', () => {
    expect(maskUrlPassword(`postgres://u:p@ss%2Fw@host/db`)).toBe('postgres://u:***@host/db');
    expect(maskUrlPassword(`postgres://u:${PASSWORD}@[bad host/db`)).not.toContain(PASSWORD);
  });
});

describe('maskUrlPasswords', () => {
  it('masks every URL password in a text and leaves the rest alone', () => {
    const text = `connect postgres://a:${PASSWORD}@h1/db1 failed; then postgresql://b:x2@h2:5433/db2 (http://127.0.0.1:3000/x@y)`;
    expect(maskUrlPasswords(text)).toBe(
      'connect postgres://a:***@h1/db1 failed; then postgresql://b:***@h2:5433/db2 (http://127.0.0.1:3000/x@y)',
    );
  });

  it('leaves a text without a URL as it is', () => {
    expect(maskUrlPasswords('user:password@host is not a URL')).toBe('user:password@host is not a URL');
  });
});

describe('the services’ log lines', () => {
  it('carry no credential header, whichever object holds the headers', () => {
    const { log, lines } = serviceLogger();
    const headers = {
      authorization: `Bearer ${TOKEN}`,
      'proxy-authorization': `Basic ${TOKEN}`,
      cookie: `session=${TOKEN}`,
      accept: 'application/json',
    };
    log.info({ req: { method: 'GET', headers } }, 'a request');
    log.info({ headers }, 'bare headers');
    log.info({ res: { statusCode: 200, headers: { 'set-cookie': `session=${TOKEN}` } } }, 'a response');
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).not.toContain(TOKEN);
    // a request's line names no header at all (the req serializer); headers logged otherwise are masked
    const [request, bare, response] = lines.map(
      (l) => JSON.parse(l) as Record<string, Record<string, unknown>>,
    );
    expect(request?.['req']).not.toHaveProperty('headers');
    expect(bare?.['headers']).toEqual({
      authorization: '***',
      'proxy-authorization': '***',
      cookie: '***',
      accept: 'application/json',
    });
    expect(response?.['res']).toEqual({ statusCode: 200 });
  });

  it('mask credential headers of a request or response logged whole (secretRedaction alone)', () => {
    const lines: string[] = [];
    const sink = { write: (line: string) => void lines.push(line) };
    const log = pino(secretRedaction(), sink);
    log.info({
      req: { headers: { authorization: `Bearer ${TOKEN}`, 'proxy-authorization': TOKEN, host: 'h' } },
    });
    log.info({ res: { headers: { 'set-cookie': `session=${TOKEN}` } } });
    expect(lines.join('')).not.toContain(TOKEN);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      req: { headers: { authorization: '***', 'proxy-authorization': '***', host: 'h' } },
    });
    expect(JSON.parse(lines[1] ?? '{}')).toMatchObject({ res: { headers: { 'set-cookie': '***' } } });
  });

  it('carry connection URLs with their password masked, in fields, messages and stacks', () => {
    const { log, lines } = serviceLogger();
    const url = `postgres://tcc_stock:${PASSWORD}@127.0.0.1:5432/tcc_stock`;
    log.info({ databaseUrl: url, password: PASSWORD }, 'fields');
    log.error({ err: new Error(`cannot use ${url}`) }, `failed at ${url}`);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      databaseUrl: 'postgres://tcc_stock:***@127.0.0.1:5432/tcc_stock',
      password: '***',
    });
    expect(lines[1]).toContain('postgres://tcc_stock:***@127.0.0.1:5432/tcc_stock');
  });

  it('are left as they are when they hold no secret', () => {
    const { log, lines } = serviceLogger();
    log.info({ orderId: 'o-1', url: 'http://127.0.0.1:3000' }, 'service ready');
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      orderId: 'o-1',
      url: 'http://127.0.0.1:3000',
      msg: 'service ready',
    });
    expect(lines[0]).not.toContain('***');
  });
});
