import type { SagaMessage } from '@tcc/contracts';
import type { Fence, Phase, Resource } from '../domain/branch';
import type { BranchStatusNames } from '../domain/fence-rules';
import type { ParticipantRules } from '../domain/ledger';

/**
 * Where a participant keeps its branches and resources. Every name is the participant's own
 * constant (never input): the engine builds its statements from them.
 */
export interface ParticipantTables {
  /** one row per branch: the fence record (stock's reservations, payment's holds) */
  fences: {
    table: string;
    /** the resource's id (a key column too when the participant has a branch per resource) */
    resource: string;
    /** the amount a try took */
    amount: string;
    statuses: BranchStatusNames<string>;
    /** the key under which each phase's reply is stored in `replies` */
    phases: Readonly<Record<Phase, string>>;
    /** columns a try copies from the resource (see ParticipantRules.copy), with their SQL types */
    copied?: Readonly<Record<string, string>>;
  };
  /** one row per resource (stock's products, payment's wallets) and its three buckets */
  resources: {
    table: string;
    id: string;
    free: string;
    held: string;
    final: string;
    /** the SQL type of the amounts ('integer', 'bigint') */
    type: string;
    /** more columns read with the buckets, for replies and copies (stock's price) */
    attributes?: readonly string[];
  };
}

/**
 * A TCC participant, declared: its rules' inputs (ParticipantRules), its tables, and the event it
 * sends when the sweeper releases a branch. Stock and payment are each one such declaration.
 */
/** The participant's words for what its moves did, in the lines it logs. */
export interface ParticipantLines {
  /** a try took `amount` of the resource (`resource` as it was before) */
  tried(amount: number, id: string, resource: Resource | undefined): string;
  confirmed(amount: number, id: string): string;
  /** a cancel or the sweeper gave back what a try had taken */
  released(amount: number, id: string): string;
  compensated(amount: number, id: string): string;
}

export interface Participant<C extends SagaMessage, R extends SagaMessage> extends Omit<
  ParticipantRules<C, R>,
  'describe'
> {
  /** the logger's and the sweeper metric's name */
  name: string;
  tables: ParticipantTables;
  lines: ParticipantLines;
  /** the event telling the order service that the sweeper released a branch */
  expired(orderId: string, fence: Fence<R>): SagaMessage;
  /** the line logged when the sweeper released a branch, with its fields */
  expiredLog(orderId: string, fence: Fence<R>): Record<string, unknown>;
}
