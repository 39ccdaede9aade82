import { Logger } from '@nestjs/common';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import type { z } from 'zod';
import { authSettings } from '@tcc/auth';
import { ConfigError, loadConfig } from '@tcc/config';
import type { ServiceConfig } from '@tcc/config';
import { describeDatabaseError, isDatabaseError } from '@tcc/database';
import { BootLogger, maskUrlPasswords } from '@tcc/observability';
import { connectKafkaConsumer } from '@tcc/kafka';
import type { Server } from 'node:http';
import { setupApiDocs } from './http/api-docs';
import { serveMetrics } from './metrics-server';
import { httpAdapter, traceAndLogRequests, useHttpErrorsFilter } from './http/http-server';
import type { KafkaConsumerServer, KafkaConsumerServerOptions } from '@tcc/kafka';

export interface ServiceDefinition<C extends ServiceConfig> {
  name: string;
  configSchema: z.ZodType<C> & z.ZodObject;
  module: (config: C) => DynamicModule;
  /** one paragraph for the OpenAPI document at /docs */
  description: string;
  /** the service's command consumer, when it has one */
  consumer?: (app: INestApplication, config: C) => KafkaConsumerServerOptions;
}

export interface RunningService {
  app: INestApplication;
  url: string;
}

/**
 * Starts one service: validated configuration, JSON logs, database, Kafka (topics first), the
 * command consumer, then HTTP. Any failure on the way ends the process with one readable line and
 * exit code 1. SIGTERM/SIGINT stop it gracefully: stop fetching, finish and commit the message in
 * hand, leave the group, close HTTP, Kafka and the database.
 */
export async function runService<C extends ServiceConfig>(
  definition: ServiceDefinition<C>,
): Promise<RunningService> {
  const config = loadConfigOrExit(definition.name, definition.configSchema) as C;
  // no way to check tokens is a configuration error too, named before anything connects
  configuredOrExit(definition.name, () => authSettings(config));
  let app: NestFastifyApplication | undefined;
  let consumer: KafkaConsumerServer | undefined;
  let metrics: Server | undefined;
  try {
    app = await NestFactory.create<NestFastifyApplication>(definition.module(config), httpAdapter(), {
      logger: new BootLogger(definition.name, config.LOG_LEVEL),
      abortOnError: false,
    });
    app.useLogger(app.get(PinoNestLogger));
    traceAndLogRequests(app);
    useHttpErrorsFilter(app);
    setupApiDocs(app, definition.name, definition.description);
    if (definition.consumer) consumer = connectKafkaConsumer(app, definition.consumer(app, config));
    await app.startAllMicroservices();
    metrics = await serveMetrics(config.METRICS_PORT, config.HOST);
    await app.listen(config.PORT, config.HOST);
  } catch (error) {
    process.stderr.write(`${definition.name}: cannot start: ${describeStartupError(error, config)}\n`);
    metrics?.close();
    await consumer?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    process.exit(1);
  }
  const url = `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
  const log = new Logger(definition.name);
  log.log({ msg: `${definition.name} service ready`, url, metricsPort: config.METRICS_PORT });
  if (config.AUTH_DISABLED) {
    log.warn({
      msg: 'AUTH_DISABLED=true: every request is let through as an operator, without a token; never run so where anyone else can reach the service',
    });
  }
  installGracefulShutdown(app, consumer, metrics, config.SHUTDOWN_TIMEOUT_MS, log);
  return { app, url };
}

/** Validated configuration, or one message naming every bad variable on stderr and exit code 1. */
export function loadConfigOrExit<S extends z.ZodObject>(label: string, schema: S): z.infer<S> {
  return configuredOrExit(label, () => loadConfig(schema));
}

/** What `read` returns, or, when it throws a ConfigError, its message on stderr and exit code 1. */
function configuredOrExit<T>(label: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${label}: ${error.message}\n`);
    process.exit(1);
  }
}

/** One line on what stopped the start; it may name a URL, never its password. */
export function describeStartupError(error: unknown, config: ServiceConfig): string {
  const e = error as { code?: string; message?: string; cause?: unknown };
  const metricsPort = (error as { metricsPort?: number }).metricsPort;
  if (e.code === 'EADDRINUSE' && metricsPort !== undefined) {
    return `port ${metricsPort} (METRICS_PORT) on ${config.HOST} is already in use`;
  }
  if (e.code === 'EADDRINUSE') return `port ${config.PORT} (PORT) on ${config.HOST} is already in use`;
  if (e.code === 'EACCES') return `no permission to listen on port ${config.PORT} (PORT)`;
  if (isDatabaseError(error)) return describeDatabaseError(error, config.DATABASE_URL);
  return maskUrlPasswords(e.message ?? String(error));
}

function installGracefulShutdown(
  app: INestApplication,
  consumer: KafkaConsumerServer | undefined,
  metrics: Server,
  timeoutMs: number,
  log: Logger,
): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.log({ msg: 'shutting down', signal });
    const timer = setTimeout(() => {
      // what still keeps the process alive (sockets, timers...), so the log says what to fix
      log.error({
        msg: 'shutdown took too long; exiting',
        timeoutMs,
        alive: process.getActiveResourcesInfo(),
        sockets: openSockets(),
      });
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    try {
      await consumer?.close();
      await app.close();
      metrics.closeAllConnections();
      await new Promise((resolve) => metrics.close(resolve));
      log.log('stopped');
      process.exitCode = 0;
      // Everything this service opened is closed. A handle left over must not keep a stopped
      // process alive: after a Kafka restart kafkajs can leave a broker socket behind that none of
      // its clients' disconnects closes (seen in the chaos run). Exit 0 once the loop had a moment.
      setTimeout(() => {
        const sockets = openSockets();
        if (sockets.length > 0) {
          log.warn({ msg: 'sockets still open after a complete shutdown; exiting anyway', sockets });
        }
        process.exit();
      }, LEFTOVER_GRACE_MS).unref();
    } catch (error) {
      log.error({ msg: 'error during shutdown', err: error });
      process.exitCode = 1;
    }
    // the timer stays (unref'd: it does not keep the process alive): if the close itself hangs,
    // it still ends the process
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, (s) => void stop(s));
}

/** How long a completely shut down process waits for leftover handles before it exits anyway. */
const LEFTOVER_GRACE_MS = 1_000;

/** The remote ends of the sockets still open (undocumented but stable Node API; diagnostics only). */
function openSockets(): string[] {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  return handles
    .filter((h): h is { remoteAddress?: string; remotePort?: number } => typeof h === 'object' && h !== null)
    .filter((h) => h.remotePort !== undefined)
    .map((h) => `${h.remoteAddress ?? '?'}:${h.remotePort}`);
}
