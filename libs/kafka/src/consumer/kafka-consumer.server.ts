import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { ZodError } from 'zod';
import type { Consumer, EachMessagePayload, IHeaders, Kafka, Producer } from 'kafkajs';
import { anyEnvelopeSchema, deadLetterTopicOf, DeadLetterHeaders, Headers } from '@tcc/contracts';
import type { AnyEnvelope } from '@tcc/contracts';
import {
  childSpan,
  parseTraceparent,
  runInTrace,
  TRACEPARENT_HEADER,
  withLogContext,
} from '@tcc/observability';
import { consumerMetrics } from './consumer.metrics';
import { backoffDelay, isRetriable } from '../backoff';
import type { RetryPolicy } from '../backoff';
import { KafkaMessageContext } from './kafka-message.context';
import { PoisonMessageError, UnknownMessageTypeError } from './errors';
import { OffsetCommitter } from './offset-committer';
import type { MessageSchemas } from './errors';

export interface KafkaConsumerServerOptions {
  kafka: Kafka;
  /** used for dead letters; must be connected by its owner */
  producer: Producer;
  groupId: string;
  topics: readonly string[];
  /** message type -> schema of the whole envelope; a type not listed here is dead-lettered */
  schemas: MessageSchemas;
  retry: RetryPolicy;
  /** partitions handled side by side; each partition is always handled one message at a time */
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs?: number;
  /** a message larger than this is dead-lettered unread (saga messages are well under 2 KiB) */
  maxMessageBytes?: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

const STACK_LIMIT = 4_000;

/**
 * A Nest transport for Kafka that gives the guarantees the built-in one does not:
 * - each partition is handled strictly one message at a time, in offset order;
 * - the offset (offset + 1) is committed only after the handler (and so its database
 *   transaction) has finished, by hand, off the message path (OffsetCommitter: one request in
 *   flight carries every partition's newest handled offset);
 * - a failing handler is retried in place with exponential backoff while the partition waits
 *   and the consumer keeps heartbeating; after the last attempt, or at once for a message that
 *   can never succeed, the original bytes go to `<topic>.dlt` with the reason in headers, and only
 *   once that write is acknowledged is the offset committed.
 * Handlers stay ordinary Nest handlers: `@EventPattern(type)` with `@Payload()` and `@Ctx()`.
 */
export class KafkaConsumerServer extends Server implements CustomTransportStrategy {
  private consumer: Consumer | undefined;
  private stopping = false;
  /** messages being handled right now, one at most per partition */
  private readonly inFlight = new Set<Promise<void>>();
  private closed: Promise<void> | undefined;
  private committer: OffsetCommitter | undefined;
  private readonly log = new Logger(KafkaConsumerServer.name);

  constructor(private readonly options: KafkaConsumerServerOptions) {
    super();
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      await this.start();
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private async start(): Promise<void> {
    const { kafka, groupId, topics, partitionsConsumedConcurrently } = this.options;
    const sessionTimeout = this.options.sessionTimeoutMs ?? 30_000;
    this.consumer = kafka.consumer({
      groupId,
      sessionTimeout,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeout / 3)),
      // a short fetch wait keeps shutdown quick: disconnect waits for the fetch in flight
      maxWaitTimeInMs: 500,
      // kafkajs restarts a crashed consumer even after disconnect(); once stopping, it must not come back
      retry: { retries: 10, restartOnFailure: async () => !this.stopping },
    });
    const consumer = this.consumer;
    const committer = new OffsetCommitter({
      commit: (offsets) => consumer.commitOffsets(offsets),
      onError: (error, offsets, attempt) =>
        this.log.warn({
          msg: 'offset commit failed; sending it again',
          err: asError(error),
          offsets,
          attempt,
        }),
    });
    this.committer = committer;
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    const { END_BATCH_PROCESS, GROUP_JOIN } = consumer.events;
    consumer.on(GROUP_JOIN, ({ payload }) => committer.assign(payload.memberAssignment));
    this.consumer.on(END_BATCH_PROCESS, ({ payload: b }) => {
      consumerMetrics.lag.set(
        { group: groupId, topic: b.topic, partition: String(b.partition) },
        Number(b.offsetLag),
      );
    });
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently,
      eachMessage: (payload) => this.handleOne(payload),
    });
    this.log.log({ msg: 'consuming', groupId, topics, handlers: [...this.messageHandlers.keys()] });
  }

  /**
   * Stop fetching, let the messages in hand finish and commit, then leave the group. Idempotent.
   * kafkajs drops manual commits once its runner is stopping, so the partitions are paused and the
   * in-flight messages drained before the consumer is told to disconnect.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stopping = true;
      const consumer = this.consumer;
      if (!consumer) return;
      try {
        consumer.pause(this.options.topics.map((topic) => ({ topic })));
      } catch {
        // between kafkajs restarts (broker away) there is no group to pause, and nothing is fetched
      }
      await Promise.allSettled([...this.inFlight]);
      const flushed = await Promise.race([
        this.committer?.flush().then(() => true),
        sleep(5_000).then(() => false),
      ]);
      if (!flushed) this.log.warn('offsets not committed at shutdown; those messages come again');
      await consumer.disconnect();
      this.log.log('consumer stopped');
    })();
    return this.closed;
  }

  on(): never {
    throw new Error('KafkaConsumerServer does not emit events');
  }

  unwrap<T>(): T {
    if (!this.consumer) throw new Error('KafkaConsumerServer is not listening yet');
    return this.consumer as T;
  }

  private async handleOne(payload: EachMessagePayload): Promise<void> {
    // once stopping, nothing new starts; the message stays uncommitted and comes back after restart
    if (this.stopping) return;
    const work = this.process(payload);
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  private async process(payload: EachMessagePayload): Promise<void> {
    const { topic, partition, message } = payload;
    const decoded = this.decode(message.value);
    const correlationId = decoded.ok
      ? decoded.envelope.correlationId
      : headerText(message.headers, Headers.correlationId);
    // this message's span, in the sender's trace (or a new one for a message that came without)
    const span = childSpan(parseTraceparent(headerText(message.headers, TRACEPARENT_HEADER)));
    const type = decoded.ok ? decoded.envelope.type : 'undecodable';
    const started = process.hrtime.bigint();
    const bindings = {
      correlationId,
      traceId: span.traceId,
      spanId: span.spanId,
      topic,
      partition,
      offset: message.offset,
    };
    await runInTrace(span, () =>
      withLogContext(bindings, async () => {
        const outcome = decoded.ok
          ? await this.dispatchWithRetry(payload, decoded.envelope)
          : await this.deadLetter(payload, decoded.error, 1);
        if (outcome === 'interrupted') return;
        this.committer?.mark(topic, partition, (BigInt(message.offset) + 1n).toString());
        consumerMetrics.handled.inc({ topic, type, outcome });
        consumerMetrics.duration.observe({ topic, type }, Number(process.hrtime.bigint() - started) / 1e9);
      }),
    );
  }

  private decode(value: Buffer | null): { ok: true; envelope: AnyEnvelope } | { ok: false; error: Error } {
    if (value === null)
      return { ok: false, error: new PoisonMessageError('message has no value (tombstone)') };
    const limit = this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (value.length > limit) {
      return {
        ok: false,
        error: new PoisonMessageError(`message is ${value.length} bytes, more than the ${limit} allowed`),
      };
    }
    let json: unknown;
    try {
      json = JSON.parse(value.toString('utf8'));
    } catch (error) {
      return {
        ok: false,
        error: new PoisonMessageError(`message is not valid JSON: ${(error as Error).message}`),
      };
    }
    const envelope = anyEnvelopeSchema.safeParse(json);
    if (!envelope.success) {
      return {
        ok: false,
        error: new PoisonMessageError(`envelope is invalid: ${describeIssues(envelope.error)}`),
      };
    }
    const schema = this.options.schemas[envelope.data.type];
    if (!schema || !this.getHandlerByPattern(envelope.data.type)) {
      return { ok: false, error: new UnknownMessageTypeError(envelope.data.type) };
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      return {
        ok: false,
        error: new PoisonMessageError(
          `${envelope.data.type} fails its schema: ${describeIssues(parsed.error)}`,
        ),
      };
    }
    return { ok: true, envelope: parsed.data as AnyEnvelope };
  }

  private async dispatchWithRetry(payload: EachMessagePayload, envelope: AnyEnvelope): Promise<Outcome> {
    const handler = this.getHandlerByPattern(envelope.type);
    if (!handler) throw new Error(`no handler for ${envelope.type}`); // decode() checked this
    const context = new KafkaMessageContext(payload, envelope);
    const { retry } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        await lastValueFrom(this.transformToObservable(await handler(envelope, context)), {
          defaultValue: undefined,
        });
        if (attempt > 1)
          this.log.log({ msg: 'handled after retries', type: envelope.type, attempts: attempt });
        return 'handled';
      } catch (error) {
        if (!isRetriable(error) || attempt >= retry.maxAttempts) {
          return this.deadLetter(payload, asError(error), attempt);
        }
        const delay = backoffDelay(retry, attempt);
        consumerMetrics.retried.inc({ topic: payload.topic, type: envelope.type });
        this.log.warn({
          msg: 'handler failed, retrying',
          type: envelope.type,
          attempt,
          delayMs: delay,
          err: asError(error),
        });
        if (!(await this.wait(payload, delay))) return 'interrupted';
      }
    }
  }

  /**
   * Writes the original bytes to the dead-letter topic. If the write fails it is retried until it
   * succeeds (or the consumer stops): the offset must not move past a message that went nowhere.
   */
  private async deadLetter(payload: EachMessagePayload, error: Error, attempts: number): Promise<Outcome> {
    const { topic, partition, message } = payload;
    const target = deadLetterTopicOf(topic);
    const headers: IHeaders = {
      ...message.headers,
      [DeadLetterHeaders.originalTopic]: topic,
      [DeadLetterHeaders.originalPartition]: String(partition),
      [DeadLetterHeaders.originalOffset]: message.offset,
      [DeadLetterHeaders.originalTimestamp]: message.timestamp,
      [DeadLetterHeaders.errorClass]: error.name,
      [DeadLetterHeaders.errorMessage]: error.message.slice(0, STACK_LIMIT),
      [DeadLetterHeaders.errorStack]: (error.stack ?? '').slice(0, STACK_LIMIT),
      [DeadLetterHeaders.attempts]: String(attempts),
      [DeadLetterHeaders.consumerGroup]: this.options.groupId,
      [DeadLetterHeaders.deadLetteredAt]: new Date().toISOString(),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.producer.send({
          topic: target,
          acks: -1,
          messages: [{ key: message.key, value: message.value, headers }],
        });
        this.log.error({
          msg: 'message dead-lettered',
          deadLetterTopic: target,
          reason: error.message,
          errorClass: error.name,
          attempts,
        });
        consumerMetrics.deadLettered.inc({ topic, error_class: error.name });
        return 'dead_lettered';
      } catch (sendError) {
        const delay = backoffDelay(this.options.retry, Math.min(attempt, 20));
        this.log.error({
          msg: 'dead-letter write failed, retrying',
          deadLetterTopic: target,
          err: asError(sendError),
          delayMs: delay,
        });
        if (!(await this.wait(payload, delay))) return 'interrupted';
      }
    }
  }

  /**
   * Waits while the partition holds its message, heartbeating so the group keeps this member.
   * Returns false when the consumer is stopping: the message then stays uncommitted and is
   * handled again after the restart.
   */
  private async wait({ heartbeat }: EachMessagePayload, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.stopping) return false;
      await sleep(Math.min(250, until - Date.now()));
      await heartbeat();
    }
    return !this.stopping;
  }
}

/** handled or dead_lettered: commit; interrupted: the consumer is stopping, do not commit */
type Outcome = 'handled' | 'dead_lettered' | 'interrupted';

/** `payload.quantity: Too small: expected number to be >0; payload.orderId: Invalid UUID` */
function describeIssues(error: ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; ');
}

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new Error(typeof error === 'string' ? error : JSON.stringify(error));
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}
