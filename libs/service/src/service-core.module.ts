import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { INestApplication } from '@nestjs/common';
import type { MixedList, EntitySchema } from 'typeorm';
import { topicsOf } from '@tcc/contracts';
import { kafkaSecurityOf } from '@tcc/config';
import type { ServiceConfig } from '@tcc/config';
import { connectionUrl, postgresDataSourceOptions } from '@tcc/database';
import { KafkaConnections, KafkaModule } from '@tcc/kafka';
import type { KafkaConsumerServerOptions, MessageSchemas } from '@tcc/kafka';
import { collectProcessMetrics, loggingModule } from '@tcc/observability';
import { OutboxModule } from '@tcc/outbox';
import { HealthModule } from './health.controller';
import { AuthModule } from './http/auth/auth.module';

export interface ServiceCoreOptions {
  service: 'order' | 'stock' | 'payment';
  config: ServiceConfig;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/**
 * What every service has, whatever its domain: JSON logs, its own PostgreSQL database through
 * TypeORM (schema by migrations only), one Kafka client with the project's topics ensured,
 * bearer tokens on every HTTP route that is not @Public(), and GET /health. The server's autovacuum keeps the tables' statistics and dead rows in hand.
 */
@Module({})
export class ServiceCoreModule {
  static forRoot({ service, config, entities, migrations }: ServiceCoreOptions): DynamicModule {
    collectProcessMetrics(service);
    return {
      module: ServiceCoreModule,
      imports: [
        loggingModule({ service, level: config.LOG_LEVEL }),
        TypeOrmModule.forRoot({
          ...postgresDataSourceOptions({
            url: config.DATABASE_URL,
            sslCaFile: config.DATABASE_SSL_CA_FILE,
            poolSize: config.DATABASE_POOL_SIZE,
            applicationName: `tcc-${service}`,
            entities,
            migrations,
          }),
          // fail fast with a clear message; orchestration (compose healthchecks, ./dev) orders startup
          retryAttempts: 2,
          retryDelay: 1_000,
        }),
        KafkaModule.forRoot({
          clientId: config.KAFKA_CLIENT_ID ?? `tcc-${service}`,
          brokers: config.KAFKA_BROKERS,
          // a ConfigError here (credentials that do not fit together) stops the start, naming them
          security: kafkaSecurityOf(config),
          // only its own: on a secured broker, the ACLs allow nothing else
          topics: topicsOf(service),
          topicPrefix: config.KAFKA_TOPIC_PREFIX,
          topicPartitions: config.KAFKA_TOPIC_PARTITIONS,
          replicationFactor: config.KAFKA_REPLICATION_FACTOR,
          minInsyncReplicas: config.KAFKA_MIN_INSYNC_REPLICAS,
        }),
        OutboxModule.forRoot({
          databaseUrl: connectionUrl(config.DATABASE_URL, config.DATABASE_SSL_CA_FILE),
          batchSize: config.OUTBOX_BATCH_SIZE,
          pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
        }),
        AuthModule.forRoot(config),
        HealthModule,
      ],
      exports: [OutboxModule],
    };
  }
}

export interface ConsumerConfig {
  KAFKA_GROUP_ID: string;
  CONSUMER_CONCURRENCY: number;
  CONSUMER_RETRY_MAX_ATTEMPTS: number;
  CONSUMER_RETRY_INITIAL_MS: number;
  CONSUMER_RETRY_MAX_MS: number;
  CONSUMER_SESSION_TIMEOUT_MS: number;
  CONSUMER_HEARTBEAT_INTERVAL_MS: number;
  CONSUMER_MAX_MESSAGE_BYTES: number;
  CONSUMER_COMMIT_INTERVAL_MS: number;
}

/** The consumer transport's options from the shared consumer configuration. */
export function consumerOptions(
  app: INestApplication,
  config: ConsumerConfig,
  topics: readonly string[],
  schemas: MessageSchemas,
): KafkaConsumerServerOptions {
  const kafka = app.get(KafkaConnections);
  return {
    kafka: kafka.kafka,
    producer: kafka.producer,
    groupId: config.KAFKA_GROUP_ID,
    topics: topics.map((t) => kafka.topic(t)),
    schemas,
    partitionsConsumedConcurrently: config.CONSUMER_CONCURRENCY,
    sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: config.CONSUMER_HEARTBEAT_INTERVAL_MS,
    maxMessageBytes: config.CONSUMER_MAX_MESSAGE_BYTES,
    commitIntervalMs: config.CONSUMER_COMMIT_INTERVAL_MS,
    retry: {
      maxAttempts: config.CONSUMER_RETRY_MAX_ATTEMPTS,
      initialDelayMs: config.CONSUMER_RETRY_INITIAL_MS,
      maxDelayMs: config.CONSUMER_RETRY_MAX_MS,
      factor: 2,
      jitter: 0.5,
    },
  };
}
