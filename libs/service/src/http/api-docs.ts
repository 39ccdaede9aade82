import { applyDecorators } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiResponse, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { BODY_LIMIT } from './http-server';

/*
 * OpenAPI for the REST APIs, generated from the code: routes from the controllers, bodies from
 * the same zod schemas that validate them (z.toJSONSchema), so the docs cannot drift from what is
 * enforced. Served at /docs (UI) and /docs-json.
 */

export function apiSchema(schema: z.ZodType): SchemaObject {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return json;
}

const problem: SchemaObject = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string', description: 'what is wrong, in a sentence' },
    issues: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

/** The request body, validated by `schema`, and the answers a body that cannot be taken gets. */
export function ApiJsonBody(schema: z.ZodType, description?: string) {
  return applyDecorators(
    ApiBody({ schema: apiSchema(schema), ...(description ? { description } : {}) }),
    ApiResponse({
      status: 400,
      description: 'the body is not JSON, or it (or a parameter) is invalid; every problem is listed',
      schema: problem,
    }),
    ApiProblem(413, `the body is larger than ${BODY_LIMIT} bytes`),
    ApiProblem(415, 'the body’s media type, charset or content coding is not taken: send JSON in UTF-8'),
  );
}

/** An error response in the common shape. */
export function ApiProblem(status: number, description: string) {
  return ApiResponse({ status, description, schema: problem });
}

export function ApiIdempotencyKey() {
  return ApiHeader({
    name: 'Idempotency-Key',
    required: true,
    description: 'any string up to 200 characters; the same key with the same body returns the first result',
  });
}

export function setupApiDocs(app: INestApplication, service: string, description: string): void {
  const config = new DocumentBuilder()
    .setTitle(`tcc-saga ${service} service`)
    .setDescription(description)
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), {
    jsonDocumentUrl: 'docs-json',
  });
}
