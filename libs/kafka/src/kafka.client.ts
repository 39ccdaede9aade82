import { Logger } from '@nestjs/common';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { KafkaConfig, LogEntry } from 'kafkajs';

export interface KafkaClientOptions {
  clientId: string;
  brokers: string[];
}

const levels: Record<number, 'error' | 'warn' | 'log' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'log',
  [logLevel.DEBUG]: 'debug',
};

/** kafkajs logs through Nest's logger, so they come out as the service's JSON lines. */
function nestLogCreator() {
  const logger = new Logger('kafkajs');
  return ({ namespace, level, log }: LogEntry) => {
    // kafkajs adds its own timestamp and logger name; the JSON line already has both
    const { message, timestamp: _t, logger: _l, ...extra } = log;
    const method = levels[level] ?? 'log';
    logger[method]({ msg: message, namespace, ...extra });
  };
}

/**
 * kafkajs' default partitioner is Java-compatible murmur2, the same as every other Kafka client, so
 * a key lands on the same partition whoever produces it. Named explicitly; it also silences
 * kafkajs' v2 migration warning.
 */
export const partitioner = Partitioners.DefaultPartitioner;

export function createKafka(options: KafkaClientOptions, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => nestLogCreator(),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
    ...overrides,
  });
}
