import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { BadRequestException, HttpException } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BODY_LIMIT } from './http-server';

/*
 * Request bodies read as Express read them with Nest's body-parser, so every client gets the same
 * answers as before: JSON (strict: an object or an array; an empty body is {}), urlencoded forms,
 * and every other type left unread (the handler gets no body, and its validation says so), at most
 * the server's bodyLimit, gzip/deflate/br inflated, and body-parser's errors with their words and
 * status codes. Fastify's own parsers differ in each of those (415 for other types, a 400 for an
 * empty JSON body, JSON that is not an object, Fastify-shaped error bodies).
 */

interface BodyRequest {
  headers: IncomingHttpHeaders;
}

const JSON_CHARSETS: Record<string, BufferEncoding> = { 'utf-8': 'utf8' };
const FORM_CHARSETS: Record<string, BufferEncoding> = { 'utf-8': 'utf8', 'iso-8859-1': 'latin1' };

export function useBodyParsers(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const limit = fastify.initialConfig.bodyLimit ?? BODY_LIMIT;
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', (request: BodyRequest, payload: IncomingMessage) =>
    readBody(request.headers, payload, limit, JSON_CHARSETS).then(parseJson),
  );
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    (request: BodyRequest, payload: IncomingMessage) =>
      readBody(request.headers, payload, limit, FORM_CHARSETS).then((text) =>
        text === undefined ? undefined : { ...parseQuery(text) },
      ),
  );
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
}

/** The body Express answered body-parser's errors with: `{ statusCode, message }`. */
function problem(status: number, message: string): HttpException {
  return new HttpException({ statusCode: status, message }, status);
}

const CHARSET = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i;

/**
 * The body as text, or undefined when the request has none (neither Content-Length nor
 * Transfer-Encoding). At most `limit` bytes once inflated, in a charset of `charsets` (UTF-8 when
 * the Content-Type names none), without a byte order mark.
 */
function readBody(
  headers: IncomingHttpHeaders,
  payload: Readable,
  limit: number,
  charsets: Record<string, BufferEncoding>,
): Promise<string | undefined> {
  if (headers['transfer-encoding'] === undefined && headers['content-length'] === undefined) {
    return Promise.resolve(undefined);
  }
  const match = CHARSET.exec(headers['content-type'] ?? '');
  const charset = (match?.[1] ?? match?.[2] ?? 'utf-8').toLowerCase();
  const decoding = charsets[charset];
  if (!decoding) return Promise.reject(problem(415, `unsupported charset "${charset.toUpperCase()}"`));
  const encoding = (headers['content-encoding'] ?? 'identity').toLowerCase();
  // the length announced is that of the encoded body; only a plain one can be refused unread
  const length = encoding === 'identity' ? Number(headers['content-length']) : NaN;
  if (length > limit) return Promise.reject(problem(413, 'request entity too large'));
  const inflate =
    encoding === 'gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : encoding === 'br'
          ? createBrotliDecompress()
          : undefined;
  if (!inflate && encoding !== 'identity') {
    return Promise.reject(problem(415, `unsupported content encoding "${encoding}"`));
  }
  const stream = inflate ? pipeline(payload, inflate, () => undefined) : payload;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const settle = (error: HttpException | undefined, text?: string) => {
      stream.off('data', onData).off('end', onEnd).off('error', onError);
      if (error) {
        stream.pause();
        reject(error);
      } else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) settle(problem(413, 'request entity too large'));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      if (!Number.isNaN(length) && received !== length) {
        settle(problem(400, 'request size did not match content length'));
        return;
      }
      const text = Buffer.concat(chunks, received).toString(decoding);
      settle(undefined, text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    };
    const onError = (error: Error) => settle(problem(400, error.message));
    stream.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

const FIRST_NON_WHITESPACE = /^[ \t\n\r]*([^ \t\n\r]|$)/;

/** JSON as body-parser's strict mode takes it; a syntax error is a 400 with JSON.parse's words. */
function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  // an empty JSON body is a common client mistake, taken as {}
  if (text.length === 0) return {};
  const first = FIRST_NON_WHITESPACE.exec(text)?.[1] || undefined;
  if (first !== '{' && first !== '[') throw new BadRequestException(notAnObject(text, first));
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BadRequestException((error as Error).message);
  }
}

/**
 * What body-parser says of JSON that is not an object or array ("null", "12"): the error
 * JSON.parse gives for a token there, naming the body's own characters.
 */
function notAnObject(text: string, first: string | undefined): string {
  const index = first === undefined ? -1 : text.indexOf(first);
  const partial = index === -1 ? '' : text.slice(0, index) + '#'.repeat(text.length - index);
  try {
    JSON.parse(partial);
  } catch (error) {
    return (error as Error).message.replace(/#+/g, (p) => text.slice(index, index + p.length));
  }
  return 'the body must be a JSON object or array';
}
