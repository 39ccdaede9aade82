import type { Logger } from '@nestjs/common';
import type { SagaMessage } from '@tcc/contracts';
import { holdOffsetUntil, replyHeaders } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { outboxHeaders } from '@tcc/outbox';
import type { DirectPublisher, OutgoingMessage } from '@tcc/outbox';

/**
 * How a participant's replies leave: recorded in the fence by the statement that decided them,
 * sent to Kafka once that has committed (DirectPublisher). The handler does not wait for Kafka's
 * acknowledgement: it holds the command's offset on it (holdOffsetUntil), so the consumer goes on
 * to the next command while the offset is committed only after the acknowledgement. A command
 * whose reply was never acknowledged comes again and gets the recorded reply again (same message
 * id), with no second effect.
 */
export class Replies {
  constructor(
    private readonly log: Logger,
    private readonly publisher: DirectPublisher,
  ) {}

  /** Logs and sends the reply of one command handled by its own handler, in its trace. */
  async sendOne(reply: SagaMessage, what: string): Promise<void> {
    this.logSent(reply, what);
    await this.send([{ message: reply, headers: outboxHeaders() }]);
  }

  /**
   * Sends the replies of the leading commands of a batch, each in its command's trace and log
   * context (each reply with its command's span as parent), each command's offset held until
   * Kafka has acknowledged them.
   */
  async sendBatch(
    taken: readonly BatchedMessage[],
    sent: readonly { reply: SagaMessage; what: string }[],
  ): Promise<void> {
    const headers = await replyHeaders(taken);
    const acknowledged = this.publisher.publish(
      taken.map((_, i) => ({
        message: (sent[i] as { reply: SagaMessage }).reply,
        headers: headers[i] ?? {},
      })),
    );
    let held = true;
    for (const [i, m] of taken.entries()) {
      const s = sent[i];
      const holds = await m.within(() => {
        if (s) this.logSent(s.reply, s.what);
        return holdOffsetUntil(acknowledged);
      });
      held &&= holds;
    }
    if (!held) await acknowledged;
  }

  private async send(replies: readonly OutgoingMessage[]): Promise<void> {
    const acknowledged = this.publisher.publish(replies);
    if (!holdOffsetUntil(acknowledged)) await acknowledged;
  }

  private logSent(reply: SagaMessage, what: string): void {
    this.log.log({ msg: what, reply: reply.type });
  }
}
