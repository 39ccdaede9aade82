import { STATUS_CODES } from 'node:http';
import { Catch, HttpException } from '@nestjs/common';
import type { ArgumentsHost, INestApplication } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';

interface BodyRequest {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Every error answer in the one shape the API documents: `{ statusCode, error, message }`, plus
 * `issues` from the validation pipe.
 *
 * Fastify reads request bodies before any Nest code runs; Nest hands its errors on as an
 * HttpException holding only Fastify's status and message. Those become the project's answers
 * here: 413 names the size allowed, 415 the media type refused, and a 400 (a body that is not
 * JSON, an empty JSON body, a size that does not match Content-Length) keeps the message naming
 * the problem. Every other error is answered as Nest answers it.
 */
@Catch()
export class HttpErrorsFilter extends BaseExceptionFilter {
  constructor(
    app: INestApplication,
    private readonly bodyLimit: number,
  ) {
    super(app.getHttpAdapter());
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    super.catch(this.answer(exception, host.switchToHttp().getRequest<BodyRequest>()), host);
  }

  private answer(exception: unknown, request: BodyRequest): unknown {
    // the project's own exceptions carry their body; only what Nest made of Fastify's errors is a bare message
    if (!(exception instanceof HttpException) || typeof exception.getResponse() !== 'string') {
      return exception;
    }
    const status = exception.getStatus();
    const message =
      status === 413
        ? `the request body is larger than the ${this.bodyLimit} bytes allowed`
        : status === 415
          ? unsupportedType(request.headers['content-type'])
          : exception.message;
    return new HttpException(
      HttpException.createBody(message, STATUS_CODES[status] ?? 'Error', status),
      status,
      {
        cause: exception,
      },
    );
  }
}

function unsupportedType(contentType: string | string[] | undefined): string {
  const type = typeof contentType === 'string' ? contentType.split(';')[0]?.trim() : undefined;
  return type
    ? `media type "${type}" is not supported: send application/json`
    : 'the request body has no Content-Type: send application/json';
}
