import { counter, gauge, histogram } from '@tcc/observability';

/** What the consumer transport counts, per (physical) topic. */
export const consumerMetrics = {
  handled: counter({
    name: 'tcc_messages_handled_total',
    help: 'Messages taken off a topic and finished, by outcome (handled or dead_lettered)',
    labelNames: ['topic', 'type', 'outcome'],
  }),
  retried: counter({
    name: 'tcc_messages_retried_total',
    help: 'Failed handling attempts that were retried in place',
    labelNames: ['topic', 'type'],
  }),
  deadLettered: counter({
    name: 'tcc_messages_dead_lettered_total',
    help: 'Messages written to a dead-letter topic, by error class',
    labelNames: ['topic', 'error_class'],
  }),
  duration: histogram({
    name: 'tcc_message_handling_seconds',
    help: 'Time from taking a message to marking it for commit, retries included',
    labelNames: ['topic', 'type'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  }),
  batchSize: histogram({
    name: 'tcc_message_batch_size',
    help: 'Messages a batch handler wrote in one transaction',
    labelNames: ['topic'],
    buckets: [2, 4, 8, 16, 32, 64, 128, 256],
  }),
  lag: gauge({
    name: 'tcc_consumer_lag',
    help: 'Messages behind the end of each partition, as of the last batch fetched',
    labelNames: ['group', 'topic', 'partition'],
  }),
};
