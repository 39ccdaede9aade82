import { Logger } from '@nestjs/common';
import { Kafka, logLevel } from 'kafkajs';
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
    const { message, ...extra } = log;
    const method = levels[level] ?? 'log';
    logger[method]({ msg: message, namespace, ...extra });
  };
}

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
