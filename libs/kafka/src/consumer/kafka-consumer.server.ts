import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { consumerMetrics } from './consumer.metrics';
import type { RetryPolicy } from '../backoff';
import { subscribeWhenKnown } from '../topics';
import { asError } from './as-error';
import { BATCH_PATTERN } from './batch';
import { BatchRunProcessor } from './batch-run.processor';
import type { ConsumerHandlers, Handler } from './consumer-handlers';
import type { MessageSchemas } from './errors';
import { decodeMessage } from './message-decoder';
import type { Decoded, DecodeRules } from './message-decoder';
import { OffsetCommitter } from './offset-committer';
import { OffsetMarker } from './offset-marker';
import { SingleMessageProcessor } from './single-message.processor';

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
  /** a member silent this long leaves the group (default 6000: the broker's least) */
  sessionTimeoutMs?: number;
  /** how often the member heartbeats (default 1000; at most a third of the session timeout) */
  heartbeatIntervalMs?: number;
  /** a message larger than this is dead-lettered unread (saga messages are well under 2 KiB) */
  maxMessageBytes?: number;
  /** least time between two OffsetCommit requests (default 0: one as soon as the last is done) */
  commitIntervalMs?: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * The most messages offered to a batch handler at once: enough to amortise a transaction (the
 * benchmark's batches average a few messages, tens under a backlog), small enough to keep one
 * statement's parameters and the decided state of a batch to a few hundred KiB.
 */
const MAX_BATCH = 200;
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
 *
 * Where a message goes: `handleBatch` below takes each fetched batch and sends runs of it to the
 * batch path (BatchRunProcessor), and every other message to the single-message path
 * (SingleMessageProcessor: the handler, retries, dead letters, dead-letter.ts). Both mark offsets
 * through the OffsetMarker (holds), which hands them to the OffsetCommitter.
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
  private readonly decodeRules: DecodeRules;
  private readonly offsets: OffsetMarker;
  private readonly batchPath: BatchRunProcessor;
  private readonly singlePath: SingleMessageProcessor;

  constructor(private readonly options: KafkaConsumerServerOptions) {
    super();
    const handlers: ConsumerHandlers = {
      handlerFor: (pattern) => this.handlerFor(pattern),
      resultOf: (answer) => lastValueFrom(this.transformToObservable(answer), { defaultValue: undefined }),
    };
    const log = this.log;
    this.decodeRules = {
      maxBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      schemas: options.schemas,
      handles: (type) => this.handlerFor(type) !== null,
    };
    this.offsets = new OffsetMarker((topic, partition, offset) => {
      this.committer?.mark(topic, partition, offset);
    }, log);
    this.batchPath = new BatchRunProcessor({ handlers, offsets: this.offsets, log });
    this.singlePath = new SingleMessageProcessor({
      handlers,
      offsets: this.offsets,
      log,
      producer: options.producer,
      groupId: options.groupId,
      retry: options.retry,
      isStopping: () => this.stopping,
    });
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
    const sessionTimeout = this.options.sessionTimeoutMs ?? 6_000;
    this.consumer = kafka.consumer({
      groupId,
      // a crashed member's partitions wait for the session timeout, then for the others to
      // rejoin, which each does at its next heartbeat: together, a survivor's takeover time
      sessionTimeout,
      heartbeatInterval: Math.min(this.options.heartbeatIntervalMs ?? 1_000, Math.floor(sessionTimeout / 3)),
      // a short fetch wait keeps shutdown quick: disconnect waits for the fetch in flight
      maxWaitTimeInMs: 500,
      // what one fetch may bring per partition (kafkajs' default is 1 MiB): saga messages are
      // about 1 KiB, so this is a few hundred per partition, and a backlog does not fill the heap
      maxBytesPerPartition: MAX_FETCH_BYTES_PER_PARTITION,
      // tries at most a second apart (the client's retry): 30 of them outlast a group coordinator's
      // move when the broker killed was also the active controller (about 10 s without a
      // coordinator, seen in ./dev failover); after 10 the member crashed and came back as a new
      // one, whose join then waited for the old member's session to expire.
      // kafkajs restarts a crashed consumer even after disconnect(); once stopping, it must not come back
      retry: { retries: 30, restartOnFailure: async () => !this.stopping },
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
    await subscribeWhenKnown(consumer, topics);
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
        this.offsets.holdsSettled().then(() => true),
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
   * message when there is no batch handler or it failed, is handled alone (the single-message path:
   * the message's own handler, retries with backoff, the dead-letter topic). Offsets are marked for
   * commit after each run, so the partition still moves strictly in order and only past what is
   * written.
   */
  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, pause, resolveOffset, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const batchHandler = this.handlerFor(BATCH_PATTERN);
    const decoded = batch.messages.map((message) => ({
      message,
      ...decodeMessage(message.value, this.decodeRules),
    }));
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
        handled = await this.track(this.batchPath.process(topic, partition, run, batchHandler));
      }
      if (handled === 0) {
        const one = { topic, partition, message: first.message, heartbeat, pause };
        if (!(await this.track(this.singlePath.process(one, first)))) return;
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
}
