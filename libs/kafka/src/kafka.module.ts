import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { KafkaSecurity } from '@tcc/config';
import { createKafka, partitioner } from './kafka.client';
import { describeKafkaSecurity } from './kafka-security';
import { renewingProducer } from './renewing-producer';
import { ensureTopics } from './topics';

export interface KafkaModuleOptions {
  clientId: string;
  brokers: string[];
  /** SASL and TLS; none: plain, unauthenticated */
  security?: KafkaSecurity;
  /** topics this service needs (logical names); created at startup when missing */
  topics: readonly string[];
  /** put before every topic name, e.g. to give each test run or environment its own topics */
  topicPrefix: string;
  topicPartitions: number;
  /** unset: the brokers' default.replication.factor */
  replicationFactor?: number;
  /** unset: the brokers' min.insync.replicas */
  minInsyncReplicas?: number;
}

export const KAFKA_MODULE_OPTIONS = Symbol('KAFKA_MODULE_OPTIONS');

/**
 * One Kafka client per service with its admin and producer connected at startup, after the
 * topics exist. The producer is idempotent (acks=all) so broker retries never duplicate a write,
 * and renews itself when the brokers stop accepting its sequence numbers (renewingProducer).
 * Consumers are started by the transport (connectKafkaConsumer) once the app is up.
 */
@Injectable()
export class KafkaConnections implements OnModuleInit, OnApplicationShutdown {
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly producer: Producer;
  private readonly log = new Logger('Kafka');

  constructor(@Inject(KAFKA_MODULE_OPTIONS) private readonly options: KafkaModuleOptions) {
    const { clientId, brokers, security } = options;
    this.kafka = createKafka({ clientId, brokers, security });
    this.admin = this.kafka.admin();
    this.producer = renewingProducer(
      () =>
        this.kafka.producer({
          idempotent: true,
          maxInFlightRequests: 5,
          allowAutoTopicCreation: false,
          createPartitioner: partitioner,
        }),
      ({ reason }) =>
        this.log.warn({
          msg: "the brokers refused the producer's sequence numbers; a new producer (new id) takes over",
          reason,
        }),
    );
  }

  private started: Promise<void> | undefined;

  /** Once only: a hybrid app (HTTP + the Kafka consumer) calls init hooks twice. */
  onModuleInit(): Promise<void> {
    this.started ??= this.start();
    return this.started;
  }

  private async start(): Promise<void> {
    const { brokers, security, topicPartitions, replicationFactor, minInsyncReplicas } = this.options;
    const topics = this.options.topics.map((t) => this.topic(t));
    try {
      await this.admin.connect();
      const result = await ensureTopics(this.admin, topics, {
        partitions: topicPartitions,
        replicationFactor,
        minInsyncReplicas,
      });
      if (result.created.length > 0)
        this.log.log({
          msg: 'created topics',
          topics: result.created,
          partitions: topicPartitions,
          replicas: result.replicas,
        });
      for (const t of result.underPartitioned) {
        this.log.warn({
          msg: 'topic has fewer partitions than configured; left as it is',
          ...t,
          configured: topicPartitions,
        });
      }
      await this.producer.connect();
    } catch (error) {
      throw new Error(
        `cannot reach Kafka at ${brokers.join(',')}${describeKafkaSecurity(security)} (KAFKA_BROKERS): ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  /** The Kafka topic for a logical topic name (contracts' Topics). */
  topic(logical: string): string {
    return `${this.options.topicPrefix}${logical}`;
  }

  /** Resolves when the cluster answers a metadata request within `timeoutMs`. */
  async ping(timeoutMs = 2_000): Promise<{ brokers: number; controller: number | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Kafka within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const cluster = await Promise.race([this.admin.describeCluster(), timeout]);
      return { brokers: cluster.brokers.length, controller: cluster.controller };
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.producer.disconnect();
    await this.admin.disconnect();
  }
}

@Module({})
export class KafkaModule {
  static forRoot(options: KafkaModuleOptions): DynamicModule {
    return {
      module: KafkaModule,
      global: true,
      providers: [{ provide: KAFKA_MODULE_OPTIONS, useValue: options }, KafkaConnections],
      exports: [KafkaConnections],
    };
  }
}
