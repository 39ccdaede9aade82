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
import { BODY_LIMIT, httpAdapter, traceAndLogRequests, useHttpErrorsFilter } from './http-server';
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

/** The services' HTTP server (Fastify, its body parsing and error answers, tracing and request logs) in front of a probe. */
describe('HTTP server', () => {
  let app: NestFastifyApplication;
  let port: number;
  const logLines: Record<string, unknown>[] = [];
  /** the x-request-id of every request whose headers the server has taken in (its onRequest hooks ran) */
  const started = new Set<string>();

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
    app = moduleRef.createNestApplication<NestFastifyApplication>(httpAdapter(), { logger: false });
    traceAndLogRequests(app);
    useHttpErrorsFilter(app);
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onRequest', (request, _reply, done) => {
        started.add(String(request.headers['x-request-id']));
        done();
      });
    await app.listen(0, '127.0.0.1');
    port = Number(new URL(await app.getUrl()).port);
  });

  afterAll(() => app.close());

  interface Answer {
    status: number;
    headers: IncomingHttpHeaders;
    body: unknown;
  }

  /**
   * One request over node:http. With `afterHeaders`, its body is written only once the server has
   * taken in its headers (by their x-request-id), so the body is read in a later turn.
   */
  function send(
    method: string,
    path: string,
    headers: Record<string, string | number> = {},
    body?: string | Buffer,
    afterHeaders = false,
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
      else if (!afterHeaders) req.end(body);
      else {
        req.flushHeaders();
        const id = String(headers['x-request-id']);
        waitFor(() => started.has(id), {
          timeoutMs: 5_000,
          intervalMs: 5,
          description: `request ${id}`,
        }).then(() => req.end(body), reject);
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

  it('reads JSON (an object or an array, with or without a byte order mark) and urlencoded forms', async () => {
    expect((await json('{"a":[1,{"b":null}]}')).body).toEqual({
      body: { a: [1, { b: null }] },
      traceId: expect.any(String),
    });
    expect((await json('[1,2]')).body).toMatchObject({ body: [1, 2] });
    expect((await json('\ufeff{"bom":true}')).body).toMatchObject({ body: { bom: true } });
    expect((await json('{"x":1}', { 'content-type': 'Application/JSON; charset=UTF-8' })).body).toMatchObject(
      { body: { x: 1 } },
    );
    const form = await send(
      'POST',
      '/raw',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'a=1&b=x%20y',
    );
    expect(form.body).toMatchObject({ body: { a: '1', b: 'x y' } });
  });

  /** 400 in the documented shape, its message naming `names` */
  const badRequest = (names: RegExp) => ({
    status: 400,
    headers: expect.objectContaining({ 'content-type': 'application/json; charset=utf-8' }),
    body: { statusCode: 400, error: 'Bad Request', message: expect.stringMatching(names) },
  });

  it.each([
    ['malformed JSON', '{"customerId": ', /JSON/],
    ['only whitespace', '  \n', /JSON/],
    ['an empty JSON body', '', /empty/],
  ])('answers %s with 400 saying what is wrong', async (_what, body, names) => {
    expect(await json(body)).toMatchObject(badRequest(names));
  });

  it('answers JSON that is not an object with the validation’s 400, naming what it got', async () => {
    for (const [body, got] of [
      ['null', 'null'],
      ['12', 'number'],
      ['"x"', 'string'],
      ['[]', 'array'],
    ]) {
      const res = await send('POST', '/strict', { 'content-type': 'application/json' }, body);
      expect(res).toMatchObject(
        badRequest(new RegExp(`^invalid request body: \\(root\\): .*expected object, received ${got}`)),
      );
      expect(res.body).toMatchObject({ issues: [{ path: '(root)' }] });
    }
  });

  it('refuses a body with a __proto__ key with 400, and pollutes no prototype', async () => {
    const res = await send(
      'POST',
      '/strict',
      { 'content-type': 'application/json' },
      '{"name":"x","__proto__":{"polluted":true}}',
    );
    expect(res).toMatchObject(badRequest(/JSON/));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses a body of another media type, or of none, with 415 naming it; text is a string to validate', async () => {
    for (const type of ['application/xml', 'application/vnd.api+json', 'multipart/form-data; boundary=x']) {
      const res = await send('POST', '/raw', { 'content-type': type }, '{"a":1}');
      expect(res).toMatchObject({
        status: 415,
        body: {
          statusCode: 415,
          error: 'Unsupported Media Type',
          message: expect.stringContaining(`"${type.split(';')[0]}"`),
        },
      });
    }
    expect(await send('POST', '/raw', {}, '{"a":1}')).toMatchObject({
      status: 415,
      body: {
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: expect.stringMatching(/Content-Type/),
      },
    });
    const text = await send('POST', '/strict', { 'content-type': 'text/plain' }, '{"name":"x"}');
    expect(text).toMatchObject(
      badRequest(/^invalid request body: \(root\): .*expected object, received string/),
    );
    // a request without any body at all (neither a length nor chunks) has none to refuse
    expect(await sendRaw('POST /raw HTTP/1.1\r\nHost: probe')).toMatchObject({
      status: 200,
      body: { body: '(none)' },
    });
  });

  it('refuses a body in another charset, or compressed, with 415 naming the charset or the coding', async () => {
    expect(await json('{}', { 'content-type': 'application/json; charset=latin1' })).toMatchObject({
      status: 415,
      body: {
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: expect.stringContaining('"latin1"'),
      },
    });
    expect(await json(gzipSync('{}'), { 'content-encoding': 'gzip' })).toMatchObject({
      status: 415,
      body: { statusCode: 415, error: 'Unsupported Media Type', message: expect.stringContaining('"gzip"') },
    });
  });

  it(`refuses a body over ${BODY_LIMIT} bytes with 413, announced or streamed, and takes one of exactly that size`, async () => {
    const sized = (n: number) => {
      const head = '{"pad":"';
      return `${head}${'x'.repeat(n - head.length - 2)}"}`;
    };
    expect(BODY_LIMIT).toBe(100 * 1024);
    expect((await json(sized(BODY_LIMIT))).status).toBe(200);
    const tooLarge = {
      status: 413,
      body: {
        statusCode: 413,
        error: 'Payload Too Large',
        message: expect.stringContaining(String(BODY_LIMIT)),
      },
    };
    expect(await json(sized(BODY_LIMIT + 1))).toMatchObject(tooLarge);
    // no Content-Length: chunked, refused once more than the limit has arrived
    expect(
      await send('POST', '/raw', { 'content-type': 'application/json' }, sized(BODY_LIMIT * 2)),
    ).toMatchObject(tooLarge);
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
      true,
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
      true,
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
