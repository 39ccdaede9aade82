import { Injectable } from '@nestjs/common';
import type { Message } from 'kafkajs';
import { routeOf } from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import { Coalescer } from '@tcc/database';
import { InfrastructureError, KafkaConnections } from '@tcc/kafka';
import { counter } from '@tcc/observability';
import { kafkaMessageOf } from './kafka-message';

/** A reply to send, with its headers (the traceparent that makes its command's span its parent). */
export interface OutgoingReply {
  message: SagaMessage;
  headers: Record<string, string>;
}

const published = counter({
  name: 'tcc_replies_published_total',
  help: 'Replies a participant published straight to Kafka (acknowledged), by topic',
  labelNames: ['topic'],
});

/** The most publish calls that share one produce request. */
const MAX_CALLS_PER_REQUEST = 64;

/**
 * Sends a participant's replies to Kafka after the transaction that decided them has committed,
 * and before the command's offset is committed: the reply of a command is always derived from its
 * fence row again, so it needs no outbox. If the process dies between the commit and Kafka's
 * acknowledgement, or the send fails, the command's offset was not committed: the command comes
 * again, the fence finds the recorded reply, and the same reply (same message id) is sent again;
 * the order service applies a reply once by its id. What a participant says unprompted (a
 * reservation or hold that expired) has no command to come again, and still goes through the
 * outbox.
 *
 * Replies that arrive while a produce request is in flight go together in the next one (Kafka
 * costs about the same per request whatever it carries), each topic's in the order they came.
 * acks=all, on the service's idempotent producer.
 */
@Injectable()
export class ReplyPublisher {
  private readonly requests = new Coalescer<readonly OutgoingReply[], void>(
    async (calls) => {
      await this.send(calls.flat());
      return calls.map(() => undefined);
    },
    { maxJobs: MAX_CALLS_PER_REQUEST, blames: () => false },
  );

  constructor(private readonly kafka: KafkaConnections) {}

  /**
   * Resolves once Kafka has acknowledged every one of `replies`. A failure is an
   * InfrastructureError, whatever kafkajs threw (after its own retries it throws errors that call
   * themselves non-retriable): the command is fine and its effect written, so the transport keeps
   * retrying it, which replays the reply, until Kafka takes it.
   */
  async publish(replies: readonly OutgoingReply[]): Promise<void> {
    if (replies.length === 0) return;
    try {
      await this.requests.submit(replies);
    } catch (error) {
      throw new InfrastructureError(
        `Kafka did not acknowledge ${replies.length} repl${replies.length === 1 ? 'y' : 'ies'}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  private async send(replies: readonly OutgoingReply[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { message, headers } of replies) {
      const { topic, key } = routeOf(message);
      const record = kafkaMessageOf(key, message, headers);
      const list = byTopic.get(topic);
      if (list) list.push(record);
      else byTopic.set(topic, [record]);
    }
    await this.kafka.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic: this.kafka.topic(topic), messages })),
    });
    for (const [topic, messages] of byTopic) published.inc({ topic }, messages.length);
  }
}
