import type { AnyEnvelope } from '@tcc/contracts';
import { outgoingTraceparent, TRACEPARENT_HEADER } from '@tcc/observability';

/**
 * The pattern of an app's batch handler: `@EventPattern(BATCH_PATTERN)`. It receives a sequence of
 * decoded, schema-valid messages: the runs of the partitions fetched together, one after another,
 * each partition's in offset order (see RunMerger). It answers how many leading messages it
 * handled: all of those in ONE transaction, with each one's effect decided in sequence order as if
 * they had come one at a time. It may answer 0 (the first message then goes to
 * its own `@EventPattern(type)` handler, as does every message it fails on); a throw counts as 0
 * (a handler that throws after its transaction committed must leave the single handlers able to
 * finish the job: the participants' fences replay the recorded replies). So the batch handler is the fast path, and the per-message handlers stay the
 * complete, authoritative one.
 */
export const BATCH_PATTERN = 'tcc.batch';

/** One message of a batch. */
export interface BatchedMessage<T extends AnyEnvelope = AnyEnvelope> {
  envelope: T;
  /**
   * Runs `fn` in this message's trace span and log context (its correlation id, topic, offset), as
   * a single-message handler runs: for the message's log lines and the traceparent of its reply.
   */
  within<R>(fn: () => R | Promise<R>): Promise<R>;
}

/** What a batch handler answers: how many leading messages it wrote (0 to `messages.length`). */
export type BatchHandled = number;

/**
 * The headers of the replies to `messages`, one set each: the traceparent that makes each
 * message's own span the parent of its reply (as the single-message path does).
 */
export function replyHeaders(messages: readonly BatchedMessage[]): Promise<Record<string, string>[]> {
  return Promise.all(
    messages.map(async (m): Promise<Record<string, string>> => {
      const traceparent = await m.within(() => outgoingTraceparent());
      return traceparent ? { [TRACEPARENT_HEADER]: traceparent } : {};
    }),
  );
}
