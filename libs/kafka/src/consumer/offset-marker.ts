import type { Logger } from '@nestjs/common';
import { asError } from './as-error';

/**
 * Marks handled offsets for commit in partition order, past the holds handlers placed
 * (holdOffsetUntil). Only messages that are written, dead-lettered or released by their hold move
 * a partition's offset.
 */
export class OffsetMarker {
  /** per partition ("topic:partition"), the offset commit waiting for holds, if any */
  private readonly held = new Map<string, Promise<void>>();

  /**
   * @param mark hands an offset to the OffsetCommitter
   * @param log where a hold that failed is reported
   */
  constructor(
    private readonly mark: (topic: string, partition: number, offset: string) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Marks `offset` for commit once `holds` and every hold placed before on the partition have
   * resolved, so a partition's offset never passes a message whose hold is pending. A hold that
   * fails stops the partition's commits for good (only a stopping process fails one): its
   * messages come again after the restart.
   */
  markAfter(topic: string, partition: number, offset: string, holds: readonly Promise<unknown>[]): void {
    const key = `${topic}:${partition}`;
    const before = this.held.get(key);
    if (holds.length === 0 && before === undefined) {
      this.mark(topic, partition, offset);
      return;
    }
    const marked = (before ?? Promise.resolve())
      .then(() => Promise.all(holds))
      .then(() => this.mark(topic, partition, offset));
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

  /** Resolves once every hold placed so far has resolved or failed (and its offset was marked). */
  async holdsSettled(): Promise<void> {
    await Promise.allSettled([...this.held.values()]);
  }
}
