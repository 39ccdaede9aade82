import type { Logger } from '@nestjs/common';
import { runInTrace, withLogContext } from '@tcc/observability';
import { asError } from './as-error';
import type { BatchedMessage } from './batch';
import type { ConsumerHandlers, Handler } from './consumer-handlers';
import { consumerMetrics } from './consumer.metrics';
import type { Decoded } from './message-decoder';
import { bindingsOf, spanOf } from './message-scope';
import { withOffsetHolds } from './offset-holds';
import type { OffsetMarker } from './offset-marker';
import { RunMerger } from './run-merger';

/** The most messages in one call of the batch handler when the runs of several partitions merge. */
const MAX_MERGED = 400;

export interface BatchRunProcessorDeps {
  handlers: ConsumerHandlers;
  offsets: OffsetMarker;
  log: Logger;
}

/**
 * The batch path: runs of decoded messages go to the app's batch handler
 * (`@EventPattern(BATCH_PATTERN)`) behind a RunMerger, so the partitions of one fetch, which offer
 * their runs in the same turn of the event loop, go to the handler as one sequence (one statement,
 * one commit). The offset past what the handler wrote is marked for commit.
 */
export class BatchRunProcessor {
  private merger: RunMerger<BatchedMessage> | undefined;

  constructor(private readonly deps: BatchRunProcessorDeps) {}

  /**
   * Offers the batch handler a run of one partition's decoded messages (merged with the runs other
   * partitions offer at the same moment); returns how many leading ones it wrote. A failure writes
   * nothing (the handler's transaction rolled back) and returns 0, so the first message goes
   * through the single-message path with its retries and dead letters.
   */
  async process(topic: string, partition: number, run: Decoded[], handler: Handler): Promise<number> {
    const started = process.hrtime.bigint();
    const holds = run.map((): Promise<unknown>[] => []);
    const messages: BatchedMessage[] = run.map((d, i) => {
      const span = spanOf(d.message);
      const bindings = bindingsOf(topic, partition, d.message, d.envelope.correlationId, span);
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
      this.deps.log.warn({
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
    this.deps.offsets.markAfter(
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

  /** The merger in front of the batch handler, made on first use. */
  private mergerOf(handler: Handler): RunMerger<BatchedMessage> {
    this.merger ??= new RunMerger(async (messages) => {
      const result = await this.deps.handlers.resultOf(await handler(messages));
      return typeof result === 'number' && Number.isInteger(result) ? result : 0;
    }, MAX_MERGED);
    return this.merger;
  }
}
