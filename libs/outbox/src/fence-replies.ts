import type { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { SagaMessage } from '@tcc/contracts';
import { isBatchConflict, isUniqueViolation } from '@tcc/database';
import { holdOffsetUntil, replyHeaders } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { outboxHeaders } from './outbox-writer';
import type { SqlParams } from './outbox-writer';
import type { OutgoingMessage, DirectPublisher } from './direct-publisher';

/**
 * The reply side of a TCC participant's fence table (stock's reservations, payment's holds): every
 * reply is recorded in the fence row under its phase in the transaction that decides it, and sent
 * to Kafka once that transaction has committed (DirectPublisher). The handler does not wait for
 * Kafka's acknowledgement: it holds the command's offset on it (holdOffsetUntil), so the consumer
 * goes on to the next command while the offset is committed only after the acknowledgement. A
 * duplicate command, or the same command again because its reply was never acknowledged, gets the
 * recorded reply again (same message id), with no second effect.
 */
export class FenceReplies {
  /** `table` and `keyColumns` are the participant's own constants, never user input */
  constructor(
    private readonly table: string,
    private readonly keyColumns: readonly string[],
    private readonly log: Logger,
    private readonly publisher: DirectPublisher,
  ) {}

  /**
   * Runs `decide` in one transaction (it records its reply in the fence and returns it), then
   * sends the reply, in the current message's trace (see `publish`).
   */
  async decide(db: DataSource, decide: (m: EntityManager) => Promise<SagaMessage>): Promise<void> {
    const reply = await db.transaction(decide);
    await this.publish(reply);
  }

  /**
   * Sends a reply whose fence change has committed, in the current message's trace. Inside a
   * handler of the transport this returns at once, the message's offset held until Kafka
   * acknowledges; elsewhere (a test) it waits for the acknowledgement.
   */
  async publish(reply: SagaMessage): Promise<void> {
    await this.send([{ message: reply, headers: outboxHeaders() }]);
  }

  private async send(replies: readonly OutgoingMessage[]): Promise<void> {
    const acknowledged = this.publisher.publish(replies);
    if (!holdOffsetUntil(acknowledged)) await acknowledged;
  }

  /** Records `reply` as the fence's answer to `phase`, and moves the fence to `status` if given. */
  async record(
    m: EntityManager,
    key: readonly unknown[],
    phase: string,
    reply: SagaMessage,
    status?: string,
  ): Promise<void> {
    const where = this.keyColumns.map((c, i) => `${c} = $${i + 1}`).join(' AND ');
    const n = key.length;
    const setStatus = status === undefined ? '' : `status = $${n + 3}, `;
    await m.query(
      `UPDATE ${this.table} SET ${setStatus}replies = replies || jsonb_build_object($${n + 1}::text, $${n + 2}::jsonb),
              updated_at = now() WHERE ${where}`,
      [...key, phase, JSON.stringify(reply), ...(status === undefined ? [] : [status])],
    );
  }

  /**
   * One part (WITH) of a statement that moves the fence from status `from` to `to` and records
   * `reply` under `phase`, but only if the fence is still in `from` and has no reply to `phase`
   * yet: the guard that lets a participant decide without a lock and write in one round trip (a
   * fence that changed meanwhile updates no row, and the statement's other parts key on this one).
   */
  transition(
    p: SqlParams,
    key: readonly unknown[],
    change: {
      phase: string;
      reply: SagaMessage;
      /** the status the fence must still have */
      from: string;
      to: string;
      returning: string;
      /** rewrites the recorded reply (SQL over the reply), e.g. to fill in a column of the fence */
      replySql?: (reply: string) => string;
      /** more conditions on the fence row (SQL), e.g. whose it is */
      also?: string;
    },
  ): string {
    const where = this.keyColumns.map((c, i) => `${c} = ${p.add(key[i])}`).join(' AND ');
    const phase = p.add(change.phase, 'text');
    const reply = p.add(JSON.stringify(change.reply), 'jsonb');
    return `UPDATE ${this.table}
       SET status = ${p.add(change.to)},
           replies = replies || jsonb_build_object(${phase}, ${change.replySql ? change.replySql(reply) : reply}),
           updated_at = now()
     WHERE ${where} AND status = ${p.add(change.from)} AND replies -> ${phase} IS NULL${change.also ? ` AND ${change.also}` : ''}
     RETURNING ${change.returning}`;
  }

  /** Says what a one-statement change did (the same line `send` logs). */
  logSent(reply: SagaMessage, what: string): void {
    this.log.log({ msg: what, reply: reply.type });
  }

  /**
   * Writes the leading `taken` commands of a batch: `write` runs the one statement. A batch that
   * lost a race (a fence that exists now: unique violation; a row that changed since the read:
   * batch conflict) wrote nothing and answers 0, so its commands go one by one. Otherwise each
   * reply is logged in its command's context, as the single paths log it, the replies are sent
   * (each with its command's span as parent; each command's offset held until they are
   * acknowledged, see `publish`), and the answer is how many were written.
   */
  async writeBatch(
    taken: readonly BatchedMessage[],
    sent: readonly { reply: SagaMessage; what: string }[],
    write: () => Promise<unknown>,
  ): Promise<number> {
    if (taken.length === 0) return 0;
    try {
      await write();
    } catch (error) {
      if (!isBatchConflict(error) && !isUniqueViolation(error)) throw error;
      this.log.debug({
        msg: 'batch lost a race and wrote nothing; its commands go one by one',
        size: taken.length,
        reason: (error as Error).message,
      });
      return 0;
    }
    const headers = await replyHeaders(taken);
    const acknowledged = this.publisher.publish(
      sent.slice(0, taken.length).map((s, i) => ({ message: s.reply, headers: headers[i] ?? {} })),
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
    return taken.length;
  }

  /** A duplicate: the reply that phase got the first time, to send again with no second effect. */
  replay<R extends SagaMessage>(
    command: SagaMessage,
    replies: Partial<Record<string, R>> | undefined,
    phase: string,
  ): R {
    const stored = replies?.[phase];
    if (!stored) throw new Error(`no stored ${phase} reply to replay for ${command.correlationId}`);
    this.log.log({ msg: `duplicate ${command.type}: replayed ${stored.type}`, messageId: command.messageId });
    return stored;
  }

  /** Says what happened, and answers the reply to send for it. */
  answer<R extends SagaMessage>(reply: R, what: string): R {
    this.logSent(reply, what);
    return reply;
  }
}

/** `message` with parts of its payload filled in (from what a statement returned). */
export function withPayload<M extends SagaMessage>(message: M, filled: Partial<M['payload']>): M {
  return { ...message, payload: { ...message.payload, ...filled } };
}
