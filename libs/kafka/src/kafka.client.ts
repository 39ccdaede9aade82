import { Logger } from '@nestjs/common';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { ICustomPartitioner, KafkaConfig, LogEntry } from 'kafkajs';
import type { KafkaSecurity } from '@tcc/config';
import { kafkaSecurityOptions } from './kafka-security';
import { notePartition } from './written-partitions';
import {
  fixKafkajsIdleTimerLoop,
  fixKafkajsVarintAllocations,
  rediscoverCoordinatorOnHeartbeatFailure,
} from './kafkajs-patches';

// every process that talks to Kafka through this library (see kafkajs-patches.ts)
fixKafkajsIdleTimerLoop();
fixKafkajsVarintAllocations();
rediscoverCoordinatorOnHeartbeatFailure();

export interface KafkaClientOptions {
  clientId: string;
  brokers: string[];
  /** SASL and TLS (KAFKA_SASL_*, KAFKA_SSL*); none: plain, unauthenticated */
  security?: KafkaSecurity;
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
 *
 * The keys repeat (a product, a customer, an order's few messages), and kafkajs hashes each one
 * again with 64-bit Long arithmetic that allocates on every step: 3% of the stock service's
 * allocations. A string key's partition is kept (per topic and partition count) and reused;
 * anything else goes to the default partitioner. Each placement is noted for the send it belongs
 * to, which checks that every partition it gave messages to was written (sendAllOrFail).
 */
export const partitioner: ICustomPartitioner = () => {
  const murmur = Partitioners.DefaultPartitioner();
  const known = new Map<string, number>();
  const place = (args: Parameters<ReturnType<ICustomPartitioner>>[0]): number => {
    const { topic, partitionMetadata, message } = args;
    if (message.partition != null || typeof message.key !== 'string') return murmur(args);
    const cacheKey = `${topic}\u0000${partitionMetadata.length}\u0000${message.key}`;
    let partition = known.get(cacheKey);
    if (partition === undefined) {
      partition = murmur(args);
      if (known.size >= KNOWN_PARTITIONS) known.clear();
      known.set(cacheKey, partition);
    }
    return partition;
  };
  return (args) => {
    const partition = place(args);
    notePartition(args.topic, partition); // for sendAllOrFail
    return partition;
  };
};
/** How many keys' partitions `partitioner` keeps before it starts afresh. */
const KNOWN_PARTITIONS = 50_000;

export function createKafka(options: KafkaClientOptions, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => nestLogCreator(),
    connectionTimeout: 3_000,
    // a request in flight when its broker died can hang until this (seen: 30 s of a consumer
    // group stuck on its dead coordinator); a produce or fetch answers in well under a second
    requestTimeout: 10_000,
    // at most a second between tries: a partition whose leader died gets a new one within seconds
    // (broker fencing), and a producer backing off 5 s between tries found it that much later
    retry: { initialRetryTime: 200, retries: 12, maxRetryTime: 1_000 },
    ...kafkaSecurityOptions(options.security ?? { tls: false }),
    ...overrides,
  });
}
