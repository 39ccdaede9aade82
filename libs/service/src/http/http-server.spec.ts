import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Body, Controller, Get, HttpCode, Module, Param, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import type { Options } from 'pino-http';
import { z } from 'zod';
import { currentTrace, pinoParams } from '@tcc/observability';
import { waitFor } from '@tcc/testing';
import { useBodyParsers } from './body-parsers';
import { BODY_LIMIT, httpAdapter, traceAndLogRequests } from './http-server';
import { ZodValidationPipe } from './zod-validation.pipe';

@Controller()
class ProbeController {
  constructor(private readonly log: PinoLogger) {}

  /** what the handler was given, and the span it runs in */
  @Post('raw')
  @HttpCode(200)
  raw(@Body() body: unknown): unknown {
    this.log.info('handled');
    return { body: body === undefined ? '(none)' : body, traceId: currentTrace()?.traceId ?? null };
  }

  @Post('strict')
  @HttpCode(200)
  strict(@Body(new ZodValidationPipe(z.strictObject({ name: z.string() }))) body: unknown): unknown {
    return body;
  }

  @Get('items/:id')
  item(@Param('id') id: string): unknown {
    return { id };
  }

  @Get('health')
  health(): unknown {
    return { status: 'ok' };
  }
}

/** The services' HTTP server (Fastify, their body parsers, tracing and request logs) in front of a probe. */
describe('HTTP server: answers as Express did, on Fastify', () => {
  let app: NestFastifyApplication;
  let port: number;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const params = pinoParams({ service: 'probe', level: 'info' });
    const [options] = params.pinoHttp as [Options];
    const sink = { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) };

    @Module({
      imports: [LoggerModule.forRoot({ ...params, pinoHttp: [options, sink] })],
      controllers: [ProbeController],
    })
    class ProbeModule {}

    const moduleRef = await Test.createTestingModule({ imports: [ProbeModule] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(httpAdapter(), {
      logger: false,
      bodyParser: false,
    });
    traceAndLogRequests(app);
    useBodyParsers(app);
    await app.listen(0, '127.0.0.1');
    port = Number(new URL(await app.getUrl()).port);
  });

  afterAll(() => app.close());

  interface Answer {
    status: number;
    headers: IncomingHttpHeaders;
    body: unknown;
  }

  /** One request over node:http, its body written `delayMs` after its headers when given. */
  function send(
    method: string,
    path: string,
    headers: Record<string, string | number> = {},
    body?: string | Buffer,
    delayMs?: number,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? JSON.parse(text) : undefined,
          });
        });
      });
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (delayMs === undefined) req.end(body);
      else {
        req.flushHeaders();
        setTimeout(() => req.end(body), delayMs);
      }
    });
  }

  const json = (body: string | Buffer, headers: Record<string, string | number> = {}) =>
    send(
      'POST',
      '/raw',
      { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      body,
    );

  /** A request exactly as written (node:http always sends a body's length or chunks with a POST). */
  function sendRaw(head: string): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(`${head}\r\nConnection: close\r\n\r\n`));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c)).on('error', reject);
      socket.on('end', () => {
        const [status, ...rest] = Buffer.concat(chunks).toString().split('\r\n\r\n');
        resolve({
          status: Number(status?.split(' ')[1]),
          body: JSON.parse(rest.join('\r\n\r\n')) as unknown,
        });
      });
    });
  }

  it('reads JSON strictly, as body-parser did: an object or array, an empty body as {}', async () => {
    expect((await json('{"a":[1,{"b":null}]}')).body).toEqual({
      body: { a: [1, { b: null }] },
      traceId: expect.any(String),
    });
    expect((await json('[1,2]')).body).toMatchObject({ body: [1, 2] });
    expect((await json('')).body).toMatchObject({ body: {} });
    expect((await json('\ufeff{"bom":true}')).body).toMatchObject({ body: { bom: true } });
    expect((await json('{"x":1}', { 'content-type': 'Application/JSON; charset=UTF-8' })).body).toMatchObject(
      {
        body: { x: 1 },
      },
    );
    // a __proto__ key is an own property, which the strict schemas then refuse by name
    const proto = await send(
      'POST',
      '/strict',
      { 'content-type': 'application/json' },
      '{"name":"x","__proto__":{"polluted":true}}',
    );
    expect(proto.status).toBe(400);
    expect(proto.body).toMatchObject({
      message: 'invalid request body: (root): Unrecognized key: "__proto__"',
    });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each([
    ['malformed JSON', '{"customerId": ', 'Unexpected end of JSON input'],
    ['only whitespace', '  \n', 'Unexpected end of JSON input'],
    ['JSON null', 'null', `Unexpected token 'n', "null" is not valid JSON`],
    ['a JSON number', '12', `Unexpected token '1', "12" is not valid JSON`],
    ['a JSON string', '"x"', `Unexpected token '"', ""x"" is not valid JSON`],
  ])('answers %s with 400 and JSON.parse’s words, in Nest’s shape', async (_what, body, message) => {
    const res = await json(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ message, error: 'Bad Request', statusCode: 400 });
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('leaves a body of any other type unread: the handler gets none, so validation names the problem', async () => {
    for (const type of [
      'text/plain',
      'application/vnd.api+json',
      'multipart/form-data; boundary=x',
      undefined,
    ]) {
      const res = await send('POST', '/raw', type ? { 'content-type': type } : {}, '{"a":1}');
      expect([type, res.status, res.body]).toEqual([
        type,
        200,
        { body: '(none)', traceId: expect.any(String) },
      ]);
    }
    const strict = await send('POST', '/strict', { 'content-type': 'text/plain' }, '{"name":"x"}');
    expect(strict.status).toBe(400);
    expect(strict.body).toMatchObject({
      message: 'invalid request body: (root): Invalid input: expected object, received undefined',
    });
    // a JSON request without any body at all (neither a length nor chunks) has none either
    expect(
      await sendRaw('POST /raw HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json'),
    ).toMatchObject({
      status: 200,
      body: { body: '(none)' },
    });
  });

  it('reads urlencoded forms, and inflates gzip bodies', async () => {
    const form = await send(
      'POST',
      '/raw',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'a=1&b=x%20y',
    );
    expect(form.body).toMatchObject({ body: { a: '1', b: 'x y' } });
    const zipped = gzipSync('{"zipped":true}');
    expect((await json(zipped, { 'content-encoding': 'gzip' })).body).toMatchObject({
      body: { zipped: true },
    });
  });

  it('refuses an unknown charset or content encoding with 415, as Express did', async () => {
    const charset = await json('{}', { 'content-type': 'application/json; charset=latin1' });
    expect(charset).toMatchObject({
      status: 415,
      body: { statusCode: 415, message: 'unsupported charset "LATIN1"' },
    });
    const encoding = await json('{}', { 'content-encoding': 'br2' });
    expect(encoding).toMatchObject({
      status: 415,
      body: { statusCode: 415, message: 'unsupported content encoding "br2"' },
    });
  });

  it(`refuses a body over ${BODY_LIMIT} bytes with 413, announced or streamed, and takes one of exactly that size`, async () => {
    const sized = (n: number) => {
      const head = '{"pad":"';
      return `${head}${'x'.repeat(n - head.length - 2)}"}`;
    };
    expect(BODY_LIMIT).toBe(100 * 1024);
    expect((await json(sized(BODY_LIMIT))).status).toBe(200);
    const tooLarge = { status: 413, body: { statusCode: 413, message: 'request entity too large' } };
    expect(await json(sized(BODY_LIMIT + 1))).toMatchObject(tooLarge);
    // no Content-Length: chunked, refused once more than the limit has arrived
    expect(
      await send('POST', '/raw', { 'content-type': 'application/json' }, sized(BODY_LIMIT * 2)),
    ).toMatchObject(tooLarge);
    // the limit is on the inflated body
    expect(await json(gzipSync(sized(BODY_LIMIT + 1)), { 'content-encoding': 'gzip' })).toMatchObject(
      tooLarge,
    );
  });

  it('matches paths as Express did: trailing slash, any case, long parameters, Nest’s 404 and 400', async () => {
    expect((await send('GET', '/items/AbC/')).body).toEqual({ id: 'AbC' });
    expect((await send('GET', '/ITEMS/AbC')).body).toEqual({ id: 'AbC' });
    const long = 'k'.repeat(500);
    expect((await send('GET', `/items/${long}`)).body).toEqual({ id: long });
    expect(await send('GET', '/nope')).toMatchObject({
      status: 404,
      body: { message: 'Cannot GET /nope', error: 'Not Found', statusCode: 404 },
    });
    const badUrl = await send('GET', '/items/%E0%A4%A');
    expect(badUrl).toMatchObject({
      status: 400,
      body: { message: "Failed to decode param '%E0%A4%A'", error: 'Bad Request', statusCode: 400 },
    });
    expect(badUrl.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('echoes a usable x-request-id, or makes one, on every answer, and logs each request in one line', async () => {
    logLines.length = 0;
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const given = await send(
      'POST',
      '/raw',
      {
        'content-type': 'application/json',
        'x-request-id': 'req-given-1',
        'idempotency-key': 'k-1',
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        'x-correlation-id': 'corr-1',
      },
      '{}',
    );
    expect(given.headers['x-request-id']).toBe('req-given-1');
    expect(given.headers['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const spanId = String(given.headers['traceparent']).split('-')[2];
    expect(given.body).toMatchObject({ traceId });

    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    expect(
      (await send('GET', '/items/1', { 'x-request-id': 'r'.repeat(101) })).headers['x-request-id'],
    ).toMatch(uuid);
    expect((await send('GET', '/items/2')).headers['x-request-id']).toMatch(uuid);
    // also when the body is refused before any handler runs
    const malformed = await json('{', { 'x-request-id': 'req-malformed' });
    expect([malformed.status, malformed.headers['x-request-id']]).toEqual([400, 'req-malformed']);
    await send('GET', '/health');

    // pino writes asynchronously: the lines of a request just answered may still be on their way
    await waitFor(() => logLines.filter((l) => l['msg'] === 'request completed').length >= 4, {
      timeoutMs: 5_000,
      intervalMs: 10,
      description: 'the request lines',
    });
    const completed = logLines.filter((l) => l['msg'] === 'request completed');
    expect(completed.find((l) => (l['req'] as { id: string }).id === 'req-given-1')).toEqual({
      level: 'info',
      time: expect.any(String),
      service: 'probe',
      req: {
        id: 'req-given-1',
        method: 'POST',
        url: '/raw',
        idempotencyKey: 'k-1',
        remoteAddress: '127.0.0.1',
      },
      correlationId: 'corr-1',
      traceId,
      spanId,
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
      msg: 'request completed',
    });
    expect(completed.find((l) => (l['req'] as { id: string }).id === 'req-malformed')).toMatchObject({
      res: { statusCode: 400 },
    });
    // a line logged inside the handler carries the request and its span
    expect(
      logLines.find((l) => l['msg'] === 'handled' && (l['req'] as { id: string }).id === 'req-given-1'),
    ).toMatchObject({ traceId, spanId, correlationId: 'corr-1' });
    // health probes are not logged
    expect(completed.some((l) => (l['req'] as { url: string }).url === '/health')).toBe(false);
  });

  it('runs the handler in the request’s span and with its logger when the body arrives after the headers', async () => {
    logLines.length = 0;
    const traceId = 'a'.repeat(31) + 'b';
    const res = await send(
      'POST',
      '/raw',
      {
        'content-type': 'application/json',
        'content-length': 9,
        'x-request-id': 'req-late',
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
      '{"late":1',
      50,
    );
    expect(res.status).toBe(400);
    const late = await send(
      'POST',
      '/raw',
      {
        'content-type': 'application/json',
        'x-request-id': 'req-late-2',
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
      '{"late":true}',
      50,
    );
    expect(late.body).toEqual({ body: { late: true }, traceId });
    await waitFor(() => logLines.some((l) => l['msg'] === 'handled'), {
      timeoutMs: 5_000,
      intervalMs: 10,
      description: 'the handler’s line',
    });
    expect(logLines.find((l) => l['msg'] === 'handled')).toMatchObject({
      req: { id: 'req-late-2' },
      traceId,
    });
  });
});
