/**
 * Every topic of the system, with its key. Keys decide partitions, and a partition is processed one
 * message at a time, so every change to one product or one wallet is serialised:
 * - stock commands are keyed by productId,
 * - payment commands by customerId (the wallet that pays),
 * - replies to the order service by orderId.
 */
export const Topics = {
  stockCommands: 'tcc.stock.commands',
  paymentCommands: 'tcc.payment.commands',
  orderReplies: 'tcc.order.replies',
} as const;
export type Topic = (typeof Topics)[keyof typeof Topics];

/**
 * Dead-letter naming rule: messages from `<topic>` that can never be handled go to `<topic>.dlt`,
 * with the same key and the original bytes, and headers saying why (see DeadLetterHeaders).
 */
export const DEAD_LETTER_SUFFIX = '.dlt';
export function deadLetterTopicOf(topic: string): string {
  return `${topic}${DEAD_LETTER_SUFFIX}`;
}
export function isDeadLetterTopic(topic: string): boolean {
  return topic.endsWith(DEAD_LETTER_SUFFIX);
}

/** Every topic the project creates at startup: the working topics and their dead-letter topics. */
export const allTopics: readonly string[] = Object.values(Topics).flatMap((t) => [t, deadLetterTopicOf(t)]);

/**
 * The topics each service writes and reads, dead letters included: what it creates at startup when
 * they are missing, and all that a secured broker's ACLs allow it (infra/local/kafka-secure.sh,
 * docs/adr/0010-kafka-acls-services-create-their-own-topics.md).
 */
export const serviceTopics = {
  order: {
    writes: [Topics.stockCommands, Topics.paymentCommands, deadLetterTopicOf(Topics.orderReplies)],
    reads: [Topics.orderReplies],
  },
  stock: {
    writes: [Topics.orderReplies, deadLetterTopicOf(Topics.stockCommands)],
    reads: [Topics.stockCommands],
  },
  payment: {
    writes: [Topics.orderReplies, deadLetterTopicOf(Topics.paymentCommands)],
    reads: [Topics.paymentCommands],
  },
} as const satisfies Record<string, { writes: readonly string[]; reads: readonly string[] }>;
/** Every topic a service uses. */
export function topicsOf(service: keyof typeof serviceTopics): string[] {
  return [...serviceTopics[service].writes, ...serviceTopics[service].reads];
}

/** Headers added to a dead letter; the original message's own headers are kept beside them. */
export const DeadLetterHeaders = {
  originalTopic: 'x-dlt-original-topic',
  originalPartition: 'x-dlt-original-partition',
  originalOffset: 'x-dlt-original-offset',
  originalTimestamp: 'x-dlt-original-timestamp',
  errorClass: 'x-dlt-error-class',
  errorMessage: 'x-dlt-error-message',
  errorStack: 'x-dlt-error-stack',
  attempts: 'x-dlt-attempts',
  consumerGroup: 'x-dlt-consumer-group',
  deadLetteredAt: 'x-dlt-time',
} as const;
