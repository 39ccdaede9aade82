import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { UnsupportedMediaTypeException } from '@nestjs/common';
import fastifyRateLimit from '@fastify/rate-limit';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { PARAMS_PROVIDER_TOKEN } from 'nestjs-pino';
import type { Params } from 'nestjs-pino';
import { requestLogging, traceRequests } from '@tcc/observability';
import { HttpErrorsFilter } from './http-errors.filter';

/*
 * HTTP is Fastify rather than Express (Express, its router, body-parser and pino-http as
 * middleware stood out in the order service's CPU profiles under load). Bodies are read by
 * Fastify's content-type parsers as Nest registers them (JSON and urlencoded forms; text/plain as
 * a string), at most BODY_LIMIT bytes; any other media type is refused with 415. Paths match as
 * they did on Express.
 */

/** Callers whose request counts a rate limit keeps (least recently seen forgotten first). */
const CALLERS_COUNTED = 100_000;

/** The largest request body taken: a larger one is refused with 413. */
export const BODY_LIMIT = 100 * 1024;

export function httpAdapter(): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    // paths match as on Express: /orders/1/ is /orders/1, and so is /ORDERS/1
    // (and a path parameter of any length gets to its validation, as there: Fastify's limit is 100)
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, maxParamLength: 16 * 1024 },
    // Node's default, which Express kept (Fastify's own is 72 s)
    keepAliveTimeout: 5_000,
    // no Nest middleware runs (tracing and request logs are a hook, see traceAndLogRequests), so
    // middie and its hook are left out
    skipMiddie: true,
    // a path segment that is not valid percent-encoding: Nest's 400, in Express's words
    frameworkErrors: badUrl,
  });
  // per-caller limits (CallerRateLimitGuard) count with it, in memory, for the callers seen last;
  // no route is limited unless it asks
  void adapter
    .getInstance<FastifyInstance>()
    .register(fastifyRateLimit, { global: false, cache: CALLERS_COUNTED });
  adapter.getInstance().addHook('preParsing', (request, _reply, payload, done) => {
    const refused = unreadableBody(request.headers);
    if (refused) done(new UnsupportedMediaTypeException(refused));
    else done(null, payload);
  });
  return adapter;
}

/** Every error answer goes through HttpErrorsFilter, bodies refused by Fastify included. */
export function useHttpErrorsFilter(app: NestFastifyApplication): void {
  app.useGlobalFilters(new HttpErrorsFilter(app, BODY_LIMIT));
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/**
 * Why a body cannot be read as sent, if so: bodies are taken as UTF-8 (what JSON is) and are not
 * inflated, so a body in another charset or with a content coding is refused rather than misread.
 */
function unreadableBody(headers: IncomingHttpHeaders): string | undefined {
  if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    return undefined;
  }
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    return `content encoding "${encoding}" is not supported: send the body uncompressed`;
  }
  const charset = CHARSET.exec(headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    return `charset "${charset}" is not supported: send UTF-8`;
  }
  return undefined;
}

/**
 * What Fastify's router cannot route: a path with a segment that is not valid percent-encoding.
 * Nest's 400, in Express's words, where Fastify's own would name its error code.
 */
function badUrl(
  error: { code: string; message: string; statusCode?: number },
  request: { raw: IncomingMessage },
  reply: { raw: ServerResponse },
): void {
  const statusCode = error.code === 'FST_ERR_BAD_URL' ? 400 : (error.statusCode ?? 400);
  const path = request.raw.url?.split('?')[0] ?? '';
  const message =
    error.code === 'FST_ERR_BAD_URL'
      ? `Failed to decode param '${path.split('/').find((s) => !decodes(s)) ?? path}'`
      : error.message;
  const body = JSON.stringify({ message, error: STATUS_CODES[statusCode], statusCode });
  // no hook runs for it, and Express still named its span
  traceRequests(request.raw, reply.raw, () =>
    reply.raw
      .writeHead(statusCode, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      })
      .end(body),
  );
}

function decodes(segment: string): boolean {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every request becomes a span (traceparent) and gets its request id and "request completed"
 * line (pino-http, with the LoggerModule's options) in the first hook of its own, before its body
 * is read: everything after, down to the handler, runs in that span and with that logger.
 */
export function traceAndLogRequests(app: NestFastifyApplication): void {
  const logRequest = requestLogging(app.get<Params>(PARAMS_PROVIDER_TOKEN));
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      traceRequests(request.raw, reply.raw, () => logRequest(request.raw, reply.raw, done));
    });
}
