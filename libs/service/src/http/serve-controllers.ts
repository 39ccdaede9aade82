import { Module } from '@nestjs/common';
import type { ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AuthConfig } from '@tcc/config';
import { AuthModule } from './auth/auth.module';
import { httpAdapter, useHttpErrorsFilter } from './http-server';

export interface ServedControllers {
  app: NestFastifyApplication;
  /** http://127.0.0.1:<port> */
  base: string;
}

/**
 * Controllers served as a service serves them (Fastify, the errors filter, bearer tokens checked
 * with `auth`), without Kafka, request logs or the rest of the service, on a free loopback port:
 * what the HTTP tests of each service stand on.
 */
export async function serveControllers(
  metadata: ModuleMetadata,
  auth: AuthConfig,
): Promise<ServedControllers> {
  const module = {
    ...metadata,
    module: ServedControllersModule,
    imports: [AuthModule.forRoot(auth), ...(metadata.imports ?? [])],
  };
  const app = await NestFactory.create<NestFastifyApplication>(module, httpAdapter(), { logger: false });
  useHttpErrorsFilter(app);
  await app.listen(0, '127.0.0.1');
  return { app, base: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

@Module({})
class ServedControllersModule {}
