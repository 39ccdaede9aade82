import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { Message } from 'kafkajs';
import { routeOf } from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import { backoffDelay, defaultRetryPolicy, KafkaConnections } from '@tcc/kafka';
import { counter } from '@tcc/observability';
import { kafkaMessageOf } from './kafka-message';

/** A message to send, with its headers (the traceparent that makes its cause's span its parent). */
export interface OutgoingMessage {
  message: SagaMessage;
  headers: Record<string, string>;
}

const published = counter({
  name: 'tcc_direct_published_total',
  help: 'Messages published straight to Kafka after their transaction committed (acknowledged), by topic',
  labelNames: ['topic'],
});

/** The most publish calls that share one produce request. */
const MAX_CALLS_PER_REQUEST = 64;

interface Queued {
  messages: readonly OutgoingMessage[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Sends messages to Kafka once the transaction that wrote them has committed, without a relay
 * round in between. Two users:
 * - a participant's replies. A command's reply is recorded in its fence row and derived from it
 *   again whenever the command comes again, so it needs no outbox: the transport commits the
 *   command's offset only once Kafka acknowledged the reply (the caller holds the offset on
 *   `publish`'s promise: holdOffsetUntil), and if the process dies first, the command comes again
 *   and its fence replays the same reply (same message id), which the order service applies once.
 *   What a participant says unprompted (a reservation or hold that expired) has no command to come
 *   again, and still goes through the outbox.
 * - the order service's commands: they are in the outbox, written by the statement that decided
 *   them, and sent from here at once; the relay deletes them when Kafka took them, and sends them
 *   itself only if that did not happen within a grace period (see outboxInsert's `relayAfterMs`).
 *
 * One produce request at a time, acks=all, on the service's idempotent producer; the messages that
 * arrive meanwhile go together in the next (Kafka costs about the same per request whatever it
 * carries), in the order they came. A request that fails is sent again, with backoff, for as long
 * as Kafka does not take it, and nothing after it goes first.
 */
@Injectable()
export class DirectPublisher implements OnApplicationShutdown {
  private readonly log = new Logger(DirectPublisher.name);
  private queue: Queued[] = [];
  private sending = false;
  private stopped = false;

  constructor(private readonly kafka: KafkaConnections) {}

  /**
   * Resolves once Kafka has acknowledged every one of `messages`; rejects only if the publisher
   * stops first.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    if (this.stopped) return Promise.reject(this.stoppedError());
    return new Promise((resolve, reject) => {
      this.queue.push({ messages, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  /** Gives up on what is not acknowledged yet: those commands' offsets stay, and they come again. */
  onApplicationShutdown(): void {
    this.stopped = true;
    const left = this.queue;
    this.queue = [];
    for (const q of left) q.reject(this.stoppedError());
  }

  private async drain(): Promise<void> {
    this.sending = true;
    let failures = 0;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const calls = this.queue.slice(0, MAX_CALLS_PER_REQUEST);
        try {
          await this.send(calls.flatMap((q) => q.messages));
        } catch (error) {
          failures++;
          const delay = backoffDelay(defaultRetryPolicy, Math.min(failures, 10));
          this.log.warn({
            msg: 'messages not acknowledged by Kafka; sending them again',
            err: error,
            messages: calls.reduce((n, q) => n + q.messages.length, 0),
            attempt: failures,
            delayMs: delay,
          });
          await sleep(delay);
          continue;
        }
        failures = 0;
        // the stopped publisher has rejected them already
        if (this.stopped) return;
        this.queue.splice(0, calls.length);
        for (const q of calls) q.resolve();
      }
    } finally {
      this.sending = false;
    }
  }

  private async send(messages: readonly OutgoingMessage[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { message, headers } of messages) {
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

  private stoppedError(): Error {
    return new Error(
      'the reply publisher stopped before Kafka acknowledged the reply; its command comes again',
    );
  }
}
