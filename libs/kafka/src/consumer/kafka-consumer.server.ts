import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { ZodError } from 'zod';
import type {
  Consumer,
  EachBatchPayload,
  EachMessagePayload,
  IHeaders,
  Kafka,
  KafkaMessage,
  Producer,
} from 'kafkajs';
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
import { BATCH_PATTERN } from './batch';
import type { BatchedMessage } from './batch';
import { RunMerger } from './run-merger';
import { withOffsetHolds } from './offset-holds';

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
  /** least time between two OffsetCommit requests (default 0: one as soon as the last is done) */
  commitIntervalMs?: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

const STACK_LIMIT = 4_000;

/**
 * The most messages offered to a batch handler at once: enough to amortise a transaction (the
 * benchmark's batches average a few messages, tens under a backlog), small enough to keep one
 * statement's parameters and the decided state of a batch to a few hundred KiB.
 */
const MAX_BATCH = 200;
/** The most messages in one call of the batch handler when the runs of several partitions merge. */
const MAX_MERGED = 400;
const MAX_FETCH_BYTES_PER_PARTITION = 256 * 1024;

/**
 * A Nest transport for Kafka that gives the guarantees the built-in one does not:
 * - each partition is handled strictly one message at a time, in offset order;
 * - the offset (offset + 1) is committed only after the handler (and so its database
 *   transaction) has finished, by hand, off the message path (OffsetCommitter: one request in
 *   flight carries every partition's newest handled offset);
 * - a failing handler is retried in place with exponential backoff while the partition waits
 *   and the consumer keeps heartbeating; after the last attempt, or at once for a message that
 *   can never succeed, the original bytes go to `<topic>.dlt` with the reason in headers, and only
 *   once that write is acknowledged is the offset committed;
 * - a handler may hold its message's offset (holdOffsetUntil: its replies are not acknowledged
 *   yet): the partition goes on to the next message, and no offset of the partition from that
 *   message on is committed before the hold resolves.
 * Handlers stay ordinary Nest handlers: `@EventPattern(type)` with `@Payload()` and `@Ctx()`.
 */
export class KafkaConsumerServer extends Server implements CustomTransportStrategy {
  private consumer: Consumer | undefined;
  private stopping = false;
  /** messages being handled right now, one at most per partition */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed: Promise<void> | undefined;
  private committer: OffsetCommitter | undefined;
  private readonly log = new Logger(KafkaConsumerServer.name);
  /** handlers by pattern: Nest's lookup normalises the pattern on every call (1% of a profile) */
  private readonly handlers = new Map<string, Handler | null>();
  /** the batch handler, fed with the runs of every partition of a fetch at once */
  private merger: RunMerger<BatchedMessage> | undefined;
  /** per partition ("topic:partition"), the offset commit waiting for holds, if any */
  private readonly held = new Map<string, Promise<void>>();

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
      // what one fetch may bring per partition (kafkajs' default is 1 MiB): saga messages are
      // about 1 KiB, so this is a few hundred per partition, and a backlog does not fill the heap
      maxBytesPerPartition: MAX_FETCH_BYTES_PER_PARTITION,
      // kafkajs restarts a crashed consumer even after disconnect(); once stopping, it must not come back
      retry: { retries: 10, restartOnFailure: async () => !this.stopping },
    });
    const consumer = this.consumer;
    const committer = new OffsetCommitter({
      commit: (offsets) => consumer.commitOffsets(offsets),
      intervalMs: this.options.commitIntervalMs ?? 0,
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
      // offsets are resolved one run at a time below, so a stop mid-batch leaves the rest unread
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.handleBatch(payload),
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
      const released = await Promise.race([
        Promise.allSettled([...this.held.values()]).then(() => true),
        sleep(5_000).then(() => false),
      ]);
      if (!released) this.log.warn('offsets still held at shutdown; those messages come again');
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

  private handlerFor(pattern: string): Handler | null {
    let handler = this.handlers.get(pattern);
    if (handler === undefined) {
      handler = this.getHandlerByPattern(pattern);
      this.handlers.set(pattern, handler);
    }
    return handler;
  }

  on(): never {
    throw new Error('KafkaConsumerServer does not emit events');
  }

  unwrap<T>(): T {
    if (!this.consumer) throw new Error('KafkaConsumerServer is not listening yet');
    return this.consumer as T;
  }

  /**
   * One fetched batch of one partition, in offset order. Runs of decodable messages go to the
   * batch handler, if the app has one (`@EventPattern(BATCH_PATTERN)`): it handles as many leading
   * messages as it can in one transaction and says how many. The message it cannot take, and every
   * message when there is no batch handler or it failed, is handled alone (`process`: the message's
   * own handler, retries with backoff, the dead-letter topic). Offsets are marked for commit after
   * each run, so the partition still moves strictly in order and only past what is written.
   */
  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, pause, resolveOffset, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const batchHandler = this.handlerFor(BATCH_PATTERN);
    const decoded = batch.messages.map((message) => ({ message, ...this.decode(message.value) }));
    let i = 0;
    while (i < decoded.length) {
      // once stopping (or the partition was taken away), nothing new starts: the rest comes again
      if (this.stopping || !isRunning() || isStale()) return;
      const first = decoded[i];
      if (!first) break;
      let handled = 0;
      if (batchHandler && first.ok) {
        const run: Decoded[] = [];
        for (let j = i; j < decoded.length && run.length < MAX_BATCH; j++) {
          const d = decoded[j];
          if (!d?.ok) break;
          run.push(d);
        }
        // even a run of one: it may merge with other partitions' runs (a handler answers 0 for a
        // lone message it would rather leave to the single path)
        handled = await this.track(this.processRun(topic, partition, run, batchHandler));
      }
      if (handled === 0) {
        const one = { topic, partition, message: first.message, heartbeat, pause };
        if (!(await this.track(this.process(one, first)))) return;
        handled = 1;
      }
      i += handled;
      const last = decoded[i - 1];
      if (last) resolveOffset(last.message.offset);
      await heartbeat();
    }
  }

  /** Keeps `work` in `inFlight` until it ends, so close() can wait for it. */
  private async track<T>(work: Promise<T>): Promise<T> {
    const tracked = work.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return tracked;
  }

  /**
   * The batch handler behind a RunMerger: the partitions of one fetch offer their runs in the same
   * turn of the event loop, and they go to the handler as one sequence (one statement, one commit).
   */
  private mergerOf(handler: Handler): RunMerger<BatchedMessage> {
    this.merger ??= new RunMerger(async (messages) => {
      const result: unknown = await lastValueFrom(this.transformToObservable(await handler(messages)), {
        defaultValue: 0,
      });
      return typeof result === 'number' && Number.isInteger(result) ? result : 0;
    }, MAX_MERGED);
    return this.merger;
  }

  /**
   * Offers the batch handler a run of decoded messages (merged with the runs other partitions
   * offer at the same moment); returns how many leading ones it wrote. A failure writes nothing
   * (the handler's transaction rolled back) and returns 0, so the first message goes through the
   * single-message path with its retries and dead letters.
   */
  private async processRun(
    topic: string,
    partition: number,
    run: Decoded[],
    handler: Handler,
  ): Promise<number> {
    const started = process.hrtime.bigint();
    const holds = run.map((): Promise<unknown>[] => []);
    const messages: BatchedMessage[] = run.map((d, i) => {
      const span = this.spanOf(d.message);
      const bindings = this.bindingsOf(topic, partition, d.message, d.envelope.correlationId, span);
      const held = holds[i] ?? [];
      return {
        envelope: d.envelope,
        within: (fn) =>
          withOffsetHolds(held, () => runInTrace(span, () => withLogContext(bindings, async () => fn()))),
      };
    });
    let handled: number;
    try {
      handled = await this.mergerOf(handler).offer(messages);
    } catch (error) {
      this.log.warn({
        msg: 'batch failed; its messages are handled one by one',
        topic,
        partition,
        firstOffset: run[0]?.message.offset,
        size: run.length,
        err: asError(error),
      });
      return 0;
    }
    const last = run[handled - 1];
    if (!last) return 0;
    this.markAfter(
      topic,
      partition,
      (BigInt(last.message.offset) + 1n).toString(),
      holds.slice(0, handled).flat(),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const d of run.slice(0, handled)) {
      consumerMetrics.handled.inc({ topic, type: d.envelope.type, outcome: 'handled' });
      consumerMetrics.duration.observe({ topic, type: d.envelope.type }, seconds / handled);
    }
    consumerMetrics.batchSize.observe({ topic }, handled);
    return handled;
  }

  /**
   * Marks `offset` for commit once `holds` and every hold placed before on the partition have
   * resolved, so a partition's offset never passes a message whose hold is pending. A hold that
   * fails stops the partition's commits for good (only a stopping process fails one): its
   * messages come again after the restart.
   */
  private markAfter(
    topic: string,
    partition: number,
    offset: string,
    holds: readonly Promise<unknown>[],
  ): void {
    const key = `${topic}:${partition}`;
    const before = this.held.get(key);
    if (holds.length === 0 && before === undefined) {
      this.committer?.mark(topic, partition, offset);
      return;
    }
    const marked = (before ?? Promise.resolve())
      .then(() => Promise.all(holds))
      .then(() => this.committer?.mark(topic, partition, offset));
    this.held.set(key, marked);
    marked.then(
      () => {
        if (this.held.get(key) === marked) this.held.delete(key);
      },
      (error: unknown) =>
        this.log.warn({
          msg: 'offset not committed: what it waited for failed; the message comes again',
          topic,
          partition,
          offset,
          err: asError(error),
        }),
    );
  }

  /** This message's span, in the sender's trace (or a new one for a message that came without). */
  private spanOf(message: KafkaMessage) {
    return childSpan(parseTraceparent(headerText(message.headers, TRACEPARENT_HEADER)));
  }

  private bindingsOf(
    topic: string,
    partition: number,
    message: KafkaMessage,
    correlationId: string | undefined,
    span: { traceId: string; spanId: string },
  ) {
    return {
      correlationId,
      traceId: span.traceId,
      spanId: span.spanId,
      topic,
      partition,
      offset: message.offset,
    };
  }

  /** Handles one message on its own; false when the consumer stopped before it was done. */
  private async process(payload: EachMessagePayload, decoded: DecodeResult): Promise<boolean> {
    const { topic, partition, message } = payload;
    const correlationId = decoded.ok
      ? decoded.envelope.correlationId
      : headerText(message.headers, Headers.correlationId);
    const span = this.spanOf(message);
    const type = decoded.ok ? decoded.envelope.type : 'undecodable';
    const started = process.hrtime.bigint();
    const bindings = this.bindingsOf(topic, partition, message, correlationId, span);
    const holds: Promise<unknown>[] = [];
    return runInTrace(span, () =>
      withLogContext(bindings, async () => {
        const outcome = decoded.ok
          ? await withOffsetHolds(holds, () => this.dispatchWithRetry(payload, decoded.envelope))
          : await this.deadLetter(payload, decoded.error, 1);
        if (outcome === 'interrupted') return false;
        this.markAfter(topic, partition, (BigInt(message.offset) + 1n).toString(), holds);
        consumerMetrics.handled.inc({ topic, type, outcome });
        consumerMetrics.duration.observe({ topic, type }, Number(process.hrtime.bigint() - started) / 1e9);
        return true;
      }),
    );
  }

  private decode(value: Buffer | null): DecodeResult {
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
    if (!schema || !this.handlerFor(envelope.data.type)) {
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
    const handler = this.handlerFor(envelope.type);
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

type Handler = NonNullable<ReturnType<Server['getHandlerByPattern']>>;
type DecodeResult = { ok: true; envelope: AnyEnvelope } | { ok: false; error: Error };
type Decoded = { message: KafkaMessage; ok: true; envelope: AnyEnvelope };

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
