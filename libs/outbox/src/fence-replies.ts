import type { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { SagaMessage } from '@tcc/contracts';
import { isBatchConflict, isUniqueViolation } from '@tcc/database';
import { replyHeaders } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { enqueueMessages } from './outbox-writer';
import type { SqlParams } from './outbox-writer';

/**
 * The reply side of a TCC participant's fence table (stock's reservations, payment's holds): every
 * reply is recorded in the fence row under its phase and put in the outbox in the same
 * transaction, and a duplicate command gets the recorded reply again (same message id).
 */
export class FenceReplies {
  /** `table` and `keyColumns` are the participant's own constants, never user input */
  constructor(
    private readonly table: string,
    private readonly keyColumns: readonly string[],
    private readonly log: Logger,
  ) {}

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
   * Writes the leading `taken` commands of a batch: `write` runs the one statement, given each
   * reply's headers (its command's span as parent). A batch that lost a race (a fence that exists
   * now: unique violation; a row that changed since the read: batch conflict) wrote nothing and
   * answers 0, so its commands go one by one. Otherwise each reply is logged in its command's
   * context, as the single paths log it, and the answer is how many were written.
   */
  async writeBatch(
    taken: readonly BatchedMessage[],
    sent: readonly { reply: SagaMessage; what: string }[],
    write: (headersEach: Record<string, string>[]) => Promise<unknown>,
  ): Promise<number> {
    if (taken.length === 0) return 0;
    try {
      await write(await replyHeaders(taken));
    } catch (error) {
      if (!isBatchConflict(error) && !isUniqueViolation(error)) throw error;
      this.log.debug({
        msg: 'batch lost a race and wrote nothing; its commands go one by one',
        size: taken.length,
        reason: (error as Error).message,
      });
      return 0;
    }
    for (const [i, m] of taken.entries()) {
      const s = sent[i];
      if (s) await m.within(() => this.logSent(s.reply, s.what));
    }
    return taken.length;
  }

  /** A duplicate: send the reply that phase got the first time, with no second effect. */
  async replay(
    m: EntityManager,
    command: SagaMessage,
    replies: Partial<Record<string, SagaMessage>> | undefined,
    phase: string,
  ): Promise<void> {
    const stored = replies?.[phase];
    if (!stored) throw new Error(`no stored ${phase} reply to replay for ${command.correlationId}`);
    await enqueueMessages(m, [stored]);
    this.log.log({ msg: `duplicate ${command.type}: replayed ${stored.type}`, messageId: command.messageId });
  }

  /** Puts the reply in the outbox and says what happened. */
  async send(m: EntityManager, reply: SagaMessage, what: string): Promise<void> {
    await enqueueMessages(m, [reply]);
    this.logSent(reply, what);
  }
}
