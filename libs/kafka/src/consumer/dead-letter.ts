import type { Logger } from '@nestjs/common';
import type { EachMessagePayload, IHeaders, KafkaMessage, Producer } from 'kafkajs';
import { deadLetterTopicOf, DeadLetterHeaders } from '@tcc/contracts';
import { backoffDelay } from '../backoff';
import type { RetryPolicy } from '../backoff';
import { consumerMetrics } from './consumer.metrics';
import { asError } from './as-error';

const STACK_LIMIT = 4_000;

export interface DeadLetterWriter {
  /** must be connected by its owner */
  producer: Producer;
  groupId: string;
  /** the backoff between failed writes */
  retry: RetryPolicy;
  log: Logger;
  /** waits `ms` while the partition holds its message; false when the consumer is stopping */
  wait(payload: EachMessagePayload, ms: number): Promise<boolean>;
}

/**
 * Writes the original bytes to the dead-letter topic, with the reason in headers. If the write
 * fails it is retried until it succeeds (true) or the consumer stops (false): the offset must not
 * move past a message that went nowhere.
 */
export async function writeDeadLetter(
  payload: EachMessagePayload,
  error: Error,
  attempts: number,
  writer: DeadLetterWriter,
): Promise<boolean> {
  const { topic, partition, message } = payload;
  const target = deadLetterTopicOf(topic);
  const headers = deadLetterHeaders(topic, partition, message, error, attempts, writer.groupId);
  for (let attempt = 1; ; attempt++) {
    try {
      await writer.producer.send({
        topic: target,
        acks: -1,
        messages: [{ key: message.key, value: message.value, headers }],
      });
      writer.log.error({
        msg: 'message dead-lettered',
        deadLetterTopic: target,
        reason: error.message,
        errorClass: error.name,
        attempts,
      });
      consumerMetrics.deadLettered.inc({ topic, error_class: error.name });
      return true;
    } catch (sendError) {
      const delay = backoffDelay(writer.retry, Math.min(attempt, 20));
      writer.log.error({
        msg: 'dead-letter write failed, retrying',
        deadLetterTopic: target,
        err: asError(sendError),
        delayMs: delay,
      });
      if (!(await writer.wait(payload, delay))) return false;
    }
  }
}

/** The original headers, plus where the message came from, why it failed and when. */
function deadLetterHeaders(
  topic: string,
  partition: number,
  message: KafkaMessage,
  error: Error,
  attempts: number,
  groupId: string,
): IHeaders {
  return {
    ...message.headers,
    [DeadLetterHeaders.originalTopic]: topic,
    [DeadLetterHeaders.originalPartition]: String(partition),
    [DeadLetterHeaders.originalOffset]: message.offset,
    [DeadLetterHeaders.originalTimestamp]: message.timestamp,
    [DeadLetterHeaders.errorClass]: error.name,
    [DeadLetterHeaders.errorMessage]: error.message.slice(0, STACK_LIMIT),
    [DeadLetterHeaders.errorStack]: (error.stack ?? '').slice(0, STACK_LIMIT),
    [DeadLetterHeaders.attempts]: String(attempts),
    [DeadLetterHeaders.consumerGroup]: groupId,
    [DeadLetterHeaders.deadLetteredAt]: new Date().toISOString(),
  };
}
