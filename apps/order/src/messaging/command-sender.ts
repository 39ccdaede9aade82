import { Injectable, Logger, Optional } from '@nestjs/common';
import { DirectPublisher, OutboxRelay } from '@tcc/outbox';
import type { OutgoingMessage } from '@tcc/outbox';

/**
 * How long the relay leaves a command to the service that wrote it before it sends it itself: far
 * longer than Kafka takes to acknowledge, so the relay sends only what a writer could not (it
 * died, Kafka was away); a command both send is a duplicate the participants' fences answer once.
 */
const WRITER_GRACE_MS = 5_000;

/**
 * Sends the commands a statement has just committed to the outbox to Kafka at once, instead of
 * waiting for the outbox relay, and has the relay delete their rows once Kafka took them. A send
 * that does not happen (Kafka away, the process stopping) leaves them to the relay, after
 * WRITER_GRACE_MS. Without a publisher and relay (a test of the statements alone) every command is
 * the relay's.
 */
@Injectable()
export class CommandSender {
  private readonly log = new Logger('order');

  constructor(
    @Optional() private readonly publisher?: DirectPublisher,
    @Optional() private readonly relay?: OutboxRelay,
  ) {}

  /** How long the relay waits before sending what this service sends; undefined: the relay sends it all. */
  get relayAfterMs(): number | undefined {
    return this.publisher && this.relay ? WRITER_GRACE_MS : undefined;
  }

  /** Sends `commands`, whose outbox rows are `outboxIds` (in the same order). */
  send(outboxIds: readonly string[] | undefined, commands: readonly OutgoingMessage[]): void {
    const { publisher, relay } = this;
    if (!publisher || !relay || commands.length === 0) return;
    if (outboxIds?.length !== commands.length) {
      this.log.warn({
        msg: 'outbox rows and commands differ; the relay sends them',
        ids: outboxIds,
        commands: commands.length,
      });
      return;
    }
    publisher.publish(commands).then(
      () => relay.acknowledge(outboxIds),
      () => undefined, // stopping: the relay's
    );
  }
}
