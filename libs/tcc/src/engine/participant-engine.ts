import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { SagaMessage } from '@tcc/contracts';
import {
  encodeArrays,
  isBatchConflict,
  isUniqueViolation,
  PLAIN_INDEX_SCANS,
  preparedQuery,
} from '@tcc/database';
import { PermanentError } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { enqueueMessages } from '@tcc/outbox';
import type { DirectPublisher } from '@tcc/outbox';
import { branchKey, planExpiries, planRun } from '../domain/ledger';
import type { FenceChange, LedgerState, ParticipantRules, ResourceChange, Run } from '../domain/ledger';
import { describer } from './describe';
import { KeyedTurns } from './keyed-turns';
import { LedgerSql } from './ledger.sql';
import type { BranchRef, ReadRow } from './ledger.sql';
import type { Participant } from './participant';
import { Replies } from './replies';

/** Runs one statement: on the pool (a prepared statement) or in a transaction. */
type Query = <T>(text: string, values: unknown[]) => Promise<T>;

/** A run that keeps losing the race for a new fence gives up; the consumer retries it with backoff. */
const LOCKED_ATTEMPTS = 3;

/**
 * A TCC participant's side of the saga, for any participant declared as a `Participant`: the fence
 * lifecycle, the decisions, batching, the sweeper, the replies and the lock order, written once.
 *
 * Every command is decided by the same rules (domain/), over its branch's fence record and its
 * resource, and the outcome is written with the reply recorded in the fence, all or nothing. Once
 * that has committed the reply is sent to Kafka; the command's offset is committed only after
 * Kafka acknowledged it, and a command that comes again replays the recorded reply.
 *
 * How a run of commands (a single message is a run of one) is written is the engine's choice, never
 * a second copy of a rule:
 * - optimistic: one read without locks, the rules applied in order in memory, one statement that
 *   writes the outcome guarded by what was read (ledger.sql.ts), so a run that lost a race writes
 *   nothing;
 * - locked, when a single command lost that race: in one transaction, its fence and resource are
 *   locked (fences first, then resources, in byte order), read again, decided by the same rules and
 *   written by the same statement.
 */
export class ParticipantEngine<C extends SagaMessage, R extends SagaMessage> {
  private readonly log: Logger;
  private readonly sql: LedgerSql<R>;
  private readonly replies: Replies;
  private readonly pooled: Query;
  private readonly rules: ParticipantRules<C, R>;
  private readonly lockedTurns = new KeyedTurns();

  constructor(
    private readonly db: DataSource,
    private readonly participant: Participant<C, R>,
    publisher: DirectPublisher,
  ) {
    this.log = new Logger(participant.name);
    this.sql = new LedgerSql<R>(participant.tables, participant.branchPerResource);
    this.replies = new Replies(this.log, publisher);
    this.pooled = <T>(text: string, values: unknown[]) => preparedQuery<T>(db, text, values);
    this.rules = {
      ...participant,
      describe: describer(participant.lines, participant.words, participant.tables),
    };
  }

  /** One command, handled by its own handler: a dead letter when its branch is another resource's. */
  async handle(command: C): Promise<void> {
    const run = (await this.optimistic([command])) ?? (await this.locked(command));
    const step = run.steps[0];
    if (!step) throw new PermanentError(run.stoppedAt?.message ?? `${command.type} was not decided`);
    await this.replies.sendOne(step.reply, step.what);
  }

  /**
   * The transport's batch handler (BATCH_PATTERN): writes the leading commands it can decide in
   * one statement and answers how many. It stops before a command whose branch is another
   * resource's (its own handler dead-letters it); a run that lost a race writes nothing and
   * answers 0, so its commands go one by one.
   */
  async handleBatch(messages: readonly BatchedMessage<C>[]): Promise<number> {
    const run = await this.optimistic(messages.map((m) => m.envelope));
    if (!run || run.steps.length === 0) return 0;
    const taken = messages.slice(0, run.steps.length);
    await this.replies.sendBatch(taken, run.steps);
    return taken.length;
  }

  /**
   * Releases branches whose time to live has passed (neither confirmed nor cancelled in time), and
   * tells the order service through the outbox. Returns how many it released.
   */
  async expireOverdue(limit = 100): Promise<number> {
    const { participant, sql } = this;
    const expired = await this.db.transaction(async (m) => {
      const query = this.inTransaction(m);
      await m.query(PLAIN_INDEX_SCANS);
      const tried = participant.tables.fences.statuses.tried;
      const due = await query<{ order_id: string; resource_id: string }[]>(sql.due, [tried, limit]);
      if (due.length === 0) return [];
      const branches = due.map((d) => ({ orderId: d.order_id, resourceId: d.resource_id }));
      const state = await this.read(query, branches, true);
      const keyed = branches.map((b) => ({
        key: branchKey(b.orderId, b.resourceId, participant.branchPerResource),
        orderId: b.orderId,
      }));
      const plan = planExpiries(keyed, state);
      await this.write(query, plan.fences, plan.resources);
      await enqueueMessages(
        m,
        plan.expired.map((e) => participant.expired(e.orderId, e.fence)),
      );
      return plan.expired;
    });
    for (const e of expired) this.log.warn(participant.expiredLog(e.orderId, e.fence));
    return expired.length;
  }

  /** The run decided over one unlocked read and written guarded by it; undefined if it lost a race. */
  private async optimistic(commands: readonly C[]): Promise<Run<C, R> | undefined> {
    const state = await this.read(
      this.pooled,
      commands.map((c) => this.participant.toBranch(c)),
    );
    const run = planRun(commands, state, new Date(), this.rules);
    try {
      await this.write(this.pooled, run.fences, run.resources);
    } catch (error) {
      if (!isBatchConflict(error) && !isUniqueViolation(error)) throw error;
      this.log.debug({
        msg: 'run lost a race and wrote nothing',
        size: run.steps.length,
        reason: (error as Error).message,
      });
      return undefined;
    }
    return run;
  }

  /**
   * One command decided under the locks of its fence and resource. Two tries racing to create one
   * fence: the loser's insert fails on the key, and it is decided again, now as a duplicate.
   */
  private locked(command: C): Promise<Run<C, R>> {
    const branch = this.participant.toBranch(command);
    // those that lost the race for one resource wait their turn here, holding no connection, so
    // a burst of them cannot take the whole pool while they queue for the row lock
    return this.lockedTurns.run(branch.resourceId, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.db.transaction(async (m) => {
            const query = this.inTransaction(m);
            const state = await this.read(query, [branch], true);
            const run = planRun([command], state, new Date(), this.rules);
            await this.write(query, run.fences, run.resources);
            return run;
          });
        } catch (error) {
          if (!isUniqueViolation(error) || attempt >= LOCKED_ATTEMPTS) throw error;
        }
      }
    });
  }

  /** The branches' fences and resources; `locked`: taking their locks in the one order first. */
  private async read(query: Query, branches: readonly BranchRef[], locked = false): Promise<LedgerState<R>> {
    const params = this.sql.readParams(
      branches,
      branches.map((b) => b.resourceId),
    );
    const [row] = await query<ReadRow[]>(locked ? this.sql.lockedRead : this.sql.read, params);
    return this.sql.state(row);
  }

  private async write(query: Query, fences: readonly FenceChange<R>[], resources: readonly ResourceChange[]) {
    if (fences.length === 0 && resources.length === 0) return;
    await query(this.sql.write, this.sql.writeParams(fences, resources));
  }

  private inTransaction(m: EntityManager): Query {
    return <T>(text: string, values: unknown[]) => m.query<T>(text, encodeArrays(values));
  }
}
