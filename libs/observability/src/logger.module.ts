import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DynamicModule } from '@nestjs/common';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { destination } from 'pino';
import type { DestinationStream } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Options } from 'pino-http';
import { Store, storage } from 'nestjs-pino/storage';
import type { Params } from 'nestjs-pino';
import { CORRELATION_HEADER } from './correlation';
import { LineBatcher } from './line-batcher';
import { secretRedaction } from './redact';
import { currentTrace } from './trace-context';

export interface LoggingOptions {
  service: string;
  level: string;
}

/**
 * JSON logs through pino. Every line carries the service name; HTTP lines carry the request id
 * and, where the client sent one, the correlation id. Message handlers bind the order id
 * themselves (see libs/kafka), so one saga can be followed across services with one filter.
 */
export function pinoParams({ service, level }: LoggingOptions): Params {
  return {
    // no Nest middleware: the HTTP server runs requestLogging() in its first hook (libs/service)
    forRoutes: [],
    pinoHttp: [
      {
        level,
        base: { service },
        messageKey: 'msg',
        timestamp: () => `,"time":"${new Date().toISOString()}"`,
        formatters: { level: (label) => ({ level: label }) },
        // tokens, cookies and passwords never reach a log line, whoever logs them (./redact); the
        // serializers below keep no header of a request or response
        ...secretRedaction({ requestsSerialized: true }),
        genReqId: (req, res) => {
          const given = req.headers['x-request-id'];
          const id =
            typeof given === 'string' && given.length > 0 && given.length <= 100 ? given : randomUUID();
          res.setHeader('x-request-id', id);
          return id;
        },
        customProps: (req) => {
          const correlationId = req.headers[CORRELATION_HEADER];
          const trace = currentTrace();
          return {
            ...(typeof correlationId === 'string' ? { correlationId } : {}),
            ...(trace ? { traceId: trace.traceId, spanId: trace.spanId } : {}),
          };
        },
        // health probes and scrapes every few seconds would drown the interesting lines
        autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' },
        // a request line says which request it was and how it ended, not every header of both
        // (those made a POST /orders line 1 KiB, and serializing them was 2% of the order
        // service's CPU under load); no header is logged, and secretRedaction() stands behind
        // any other line that logs one
        wrapSerializers: false,
        serializers: {
          req: (req: IncomingMessage & { id?: unknown }) => {
            const key = req.headers['idempotency-key'];
            return {
              id: req.id,
              method: req.method,
              url: req.url,
              ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
              remoteAddress: req.socket?.remoteAddress,
            };
          },
          res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
        },
      },
      stdout(),
    ],
  };
}

let out: DestinationStream | undefined;

/**
 * Standard output, written in chunks: lines are collected for up to 50 ms (or 64 KiB) and written
 * with one system call, instead of one write per line. Flushed on exit (also process.exit); a
 * SIGKILL loses at most the last 50 ms of lines. The lines are collected by LineBatcher, not by
 * SonicBoom's own buffer (see there); at 300 orders/s the order service logs about 450 KB a
 * second, 20 writes of it.
 */
function stdout(): DestinationStream {
  out ??= new LineBatcher(destination({ dest: 1, sync: false }), { maxChars: 65_536, flushMs: 50 });
  return out;
}

export function loggingModule(options: LoggingOptions): DynamicModule {
  return LoggerModule.forRoot(pinoParams(options));
}

/**
 * What nestjs-pino's middleware does, as one function of Node's request and response for an HTTP
 * server's hook: pino-http with the LoggerModule's options (the request id, the "request
 * completed" line), then `next` with the request's logger as the one every log line inside it
 * goes through.
 */
export function requestLogging(
  params: Params,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const [options, stream] = Array.isArray(params.pinoHttp) ? params.pinoHttp : [params.pinoHttp as Options];
  const log = pinoHttp(options, stream);
  return (req, res, next) => {
    log(req, res);
    storage.run(new Store(req.log), next);
  };
}

/**
 * Runs `fn` with every log line inside it (through nestjs-pino's PinoLogger/Logger) carrying
 * `bindings`, e.g. the order id of the message being handled. Outside an HTTP request nestjs-pino
 * has no request-scoped logger, so message handlers get one here.
 */
export function withLogContext<T>(bindings: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  const parent = storage.getStore()?.logger ?? PinoLogger.root;
  if (!parent) return fn();
  return storage.run(new Store(parent.child(bindings)), fn);
}
