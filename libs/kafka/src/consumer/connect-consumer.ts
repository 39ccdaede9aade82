import { Catch } from '@nestjs/common';
import type { INestApplication, RpcExceptionFilter } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { throwError } from 'rxjs';
import { KafkaConsumerServer } from './kafka-consumer.server';
import type { KafkaConsumerServerOptions } from './kafka-consumer.server';

/**
 * Nest's default RPC exception filter replaces a handler's error by a generic object, which would
 * hide the error class (and so whether it is retriable) from the transport. This one passes the
 * original error through.
 */
@Catch()
export class RethrowRpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

/** Attaches the Kafka consumer to a Nest application; start it with app.startAllMicroservices(). */
export function connectKafkaConsumer(
  app: INestApplication,
  options: KafkaConsumerServerOptions,
): KafkaConsumerServer {
  const server = new KafkaConsumerServer(options);
  // deferred, so the filter is registered before the handlers are wired
  const microservice = app.connectMicroservice({ strategy: server }, { deferInitialization: true });
  microservice.useGlobalFilters(new RethrowRpcExceptionFilter());
  return server;
}
