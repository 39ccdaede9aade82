import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@nestjs/common';
import type { EachMessagePayload, Producer } from 'kafkajs';
import { Headers } from '@tcc/contracts';
import type { AnyEnvelope } from '@tcc/contracts';
import { runInTrace, withLogContext } from '@tcc/observability';
import { backoffDelay, isRetriable } from '../backoff';
import type { RetryPolicy } from '../backoff';
import { asError } from './as-error';
import type { ConsumerHandlers } from './consumer-handlers';
import { consumerMetrics } from './consumer.metrics';
import { writeDeadLetter } from './dead-letter';
import { KafkaMessageContext } from './kafka-message.context';
import type { DecodeResult } from './message-decoder';
import { bindingsOf, headerText, spanOf } from './message-scope';
import { withOffsetHolds } from './offset-holds';
import type { OffsetMarker } from './offset-marker';

export interface SingleMessageProcessorDeps {
  handlers: ConsumerHandlers;
  offsets: OffsetMarker;
  log: Logger;
  /** writes dead letters; must be connected by its owner */
  producer: Producer;
  groupId: string;
  retry: RetryPolicy;
  /** true once the consumer is stopping: waits end, and the message in hand stays uncommitted */
  isStopping(): boolean;
}

/** handled or dead_lettered: commit; interrupted: the consumer is stopping, do not commit */
type Outcome = 'handled' | 'dead_lettered' | 'interrupted';

/**
 * The single-message path, complete and authoritative: one message goes to its own
 * `@EventPattern(type)` handler, in its trace and log context. A failure that may pass is retried
 * in place with exponential backoff while the partition waits and the consumer keeps heartbeating;
 * after the last attempt, or at once for a message that can never succeed, the original bytes go
 * to `<topic>.dlt`. Then (past any hold the handler placed) its offset is marked for commit.
 */
export class SingleMessageProcessor {
  constructor(private readonly deps: SingleMessageProcessorDeps) {}

  /** Handles one message on its own; false when the consumer stopped before it was done. */
  async process(payload: EachMessagePayload, decoded: DecodeResult): Promise<boolean> {
    const { topic, partition, message } = payload;
    const correlationId = decoded.ok
      ? decoded.envelope.correlationId
      : headerText(message.headers, Headers.correlationId);
    const span = spanOf(message);
    const type = decoded.ok ? decoded.envelope.type : 'undecodable';
    const started = process.hrtime.bigint();
    const bindings = bindingsOf(topic, partition, message, correlationId, span);
    const holds: Promise<unknown>[] = [];
    return runInTrace(span, () =>
      withLogContext(bindings, async () => {
        const outcome = decoded.ok
          ? await withOffsetHolds(holds, () => this.dispatchWithRetry(payload, decoded.envelope))
          : await this.deadLetter(payload, decoded.error, 1);
        if (outcome === 'interrupted') return false;
        this.deps.offsets.markAfter(topic, partition, (BigInt(message.offset) + 1n).toString(), holds);
        consumerMetrics.handled.inc({ topic, type, outcome });
        consumerMetrics.duration.observe({ topic, type }, Number(process.hrtime.bigint() - started) / 1e9);
        return true;
      }),
    );
  }

  private async dispatchWithRetry(payload: EachMessagePayload, envelope: AnyEnvelope): Promise<Outcome> {
    const { handlers, retry, log } = this.deps;
    const handler = handlers.handlerFor(envelope.type);
    if (!handler) throw new Error(`no handler for ${envelope.type}`); // decodeMessage checked this
    const context = new KafkaMessageContext(payload, envelope);
    for (let attempt = 1; ; attempt++) {
      try {
        await handlers.resultOf(await handler(envelope, context));
        if (attempt > 1) log.log({ msg: 'handled after retries', type: envelope.type, attempts: attempt });
        return 'handled';
      } catch (error) {
        if (!isRetriable(error) || attempt >= retry.maxAttempts) {
          return this.deadLetter(payload, asError(error), attempt);
        }
        const delay = backoffDelay(retry, attempt);
        consumerMetrics.retried.inc({ topic: payload.topic, type: envelope.type });
        log.warn({
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

  private async deadLetter(payload: EachMessagePayload, error: Error, attempts: number): Promise<Outcome> {
    const { producer, groupId, retry, log } = this.deps;
    const wait = (p: EachMessagePayload, ms: number) => this.wait(p, ms);
    const written = await writeDeadLetter(payload, error, attempts, { producer, groupId, retry, log, wait });
    return written ? 'dead_lettered' : 'interrupted';
  }

  /**
   * Waits while the partition holds its message, heartbeating so the group keeps this member.
   * Returns false when the consumer is stopping: the message then stays uncommitted and is
   * handled again after the restart.
   */
  private async wait({ heartbeat }: EachMessagePayload, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (this.deps.isStopping()) return false;
      await sleep(Math.min(250, until - Date.now()));
      await heartbeat();
    }
    return !this.deps.isStopping();
  }
}
