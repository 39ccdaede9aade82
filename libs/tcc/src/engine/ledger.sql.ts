/*
 * The engine's statements over a participant's tables, built once from its declaration. Each has a
 * fixed text (a prepared statement) whose rows travel as array parameters.
 *
 * Lock order, everywhere: fences before resources, each in byte order of their ids (uuid order,
 * then `COLLATE "C"`), whatever the database's collation. The write, the locked path and the
 * sweeper all take locks in this one order, so none of them can wait on another in a cycle.
 */
import type { Buckets } from '../domain/buckets';
import type { Fence, Phase } from '../domain/branch';
import { statesOf } from '../domain/fence-rules';
import type { BranchState } from '../domain/fence-rules';
import { branchKey } from '../domain/ledger';
import type { FenceChange, LedgerState, ResourceChange } from '../domain/ledger';
import { batchExpect } from '@tcc/database';
import type { ParticipantTables } from './participant';

/** A branch to read: its order and resource. */
export interface BranchRef {
  orderId: string;
  resourceId: string;
}

interface FenceRow {
  order_id: string;
  resource_id: string;
  amount: number;
  status: string;
  reason: string | null;
  expires_at: string | null;
  replies: Record<string, unknown>;
  copied: Record<string, unknown> | null;
}

interface ResourceRow {
  id: string;
  free: number;
  held: number;
  final: number;
  attributes: Record<string, unknown> | null;
}

export interface ReadRow {
  fences: FenceRow[];
  resources: ResourceRow[];
}

const PHASES: readonly Phase[] = ['try', 'confirm', 'cancel', 'compensate'];

export class LedgerSql<R> {
  /** reads the fences of some branches and some resources, without locks: one row of two arrays */
  readonly read: string;
  /** `read`, locking the fences, then the resources, each in byte order (the locked path, the sweeper) */
  readonly lockedRead: string;
  /** one statement writing every change of a run, guarded by what the run was decided from */
  readonly write: string;
  /** the sweeper's pick: branches held past their time, locked, skipping those locked by others */
  readonly due: string;

  private readonly stateOf: (status: string) => BranchState;
  private readonly phaseOf: ReadonlyMap<string, Phase>;
  private readonly copied: readonly [column: string, type: string][];

  constructor(
    private readonly t: ParticipantTables,
    private readonly perResource: boolean,
  ) {
    const { fences: f, resources: r } = t;
    this.stateOf = statesOf(f.statuses);
    this.phaseOf = new Map(PHASES.map((p) => [f.phases[p], p]));
    this.copied = Object.entries(f.copied ?? {});
    const copiedJson = this.copied.length
      ? `jsonb_build_object(${this.copied.map(([c]) => `'${c}', ${c}`).join(', ')})`
      : 'NULL';
    const attributesJson = r.attributes?.length
      ? `jsonb_build_object(${r.attributes.map((a) => `'${a}', ${a}`).join(', ')})`
      : 'NULL';
    // $1 resource ids, $2 order ids, and where a branch is per resource, $3 the branches' resources
    const resourceWhere = `${r.id} = ANY($1::text[])`;
    const fenceWhere = perResource
      ? `(order_id, ${f.resource}) IN (SELECT * FROM unnest($2::uuid[], $3::text[]))`
      : `order_id = ANY($2::uuid[])`;
    const fenceColumns = `order_id, ${f.resource} AS resource_id, ${f.amount} AS amount, status, reason,
      expires_at, replies, ${copiedJson} AS copied`;
    const resourceColumns = `${r.id} AS id, ${r.free} AS free, ${r.held} AS held, ${r.final} AS final,
      ${attributesJson} AS attributes`;
    this.read = `SELECT
      (SELECT coalesce(jsonb_agg(fe), '[]') FROM (
         SELECT ${fenceColumns} FROM ${f.table} WHERE ${fenceWhere}) fe) AS fences,
      (SELECT coalesce(jsonb_agg(re), '[]') FROM (
         SELECT ${resourceColumns} FROM ${r.table} WHERE ${resourceWhere}) re) AS resources`;
    // the same read, taking the locks in the one order: every fence first (the count over them is
    // a one-time filter of the resources' scan, so it completes before), then every resource
    this.lockedRead = `WITH fe AS MATERIALIZED (
        SELECT ${fenceColumns} FROM ${f.table} WHERE ${fenceWhere}
         ORDER BY order_id, ${f.resource} COLLATE "C" FOR UPDATE),
      re AS MATERIALIZED (
        SELECT ${resourceColumns} FROM ${r.table} WHERE ${resourceWhere} AND (SELECT count(*) FROM fe) >= 0
         ORDER BY ${r.id} COLLATE "C" FOR UPDATE)
      SELECT (SELECT coalesce(jsonb_agg(fe), '[]') FROM fe) AS fences,
             (SELECT coalesce(jsonb_agg(re), '[]') FROM re) AS resources`;
    this.due = `SELECT order_id, ${f.resource} AS resource_id FROM ${f.table}
      WHERE status = $1 AND expires_at < now()
      ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`;
    this.write = this.writeText();
  }

  /** The parameters of `read` and `lockedRead` for these branches and resources. */
  readParams(branches: readonly BranchRef[], resources: readonly string[]): unknown[] {
    const ids = [...new Set(resources)];
    const orders = branches.map((b) => b.orderId);
    return this.perResource ? [ids, orders, branches.map((b) => b.resourceId)] : [ids, [...new Set(orders)]];
  }

  /** The read row as the ledger state the rules decide from. */
  state(row: ReadRow | undefined): LedgerState<R> {
    const fences = new Map<string, Fence<R>>();
    for (const f of row?.fences ?? []) {
      const replies: Partial<Record<Phase, R>> = {};
      for (const [key, reply] of Object.entries(f.replies)) {
        const phase = this.phaseOf.get(key);
        if (phase) replies[phase] = reply as R;
      }
      fences.set(branchKey(f.order_id, f.resource_id, this.perResource), {
        state: this.stateOf(f.status),
        resourceId: f.resource_id,
        amount: Number(f.amount),
        reason: f.reason,
        expiresAt: f.expires_at === null ? null : new Date(f.expires_at),
        replies,
        copied: f.copied ?? {},
      });
    }
    const resources = new Map(
      (row?.resources ?? []).map((r) => [
        r.id,
        {
          id: r.id,
          buckets: { free: Number(r.free), held: Number(r.held), final: Number(r.final) },
          attributes: r.attributes ?? {},
        },
      ]),
    );
    return { fences, resources };
  }

  /** The parameters of `write` for a run's changes. */
  writeParams(fences: readonly FenceChange<R>[], resources: readonly ResourceChange[]): unknown[] {
    const updates = fences.filter((c): c is FenceChange<R> & { before: Fence<R> } => c.before !== undefined);
    const inserts = fences.filter((c) => c.before === undefined);
    const status = (f: Fence<R>) => this.t.fences.statuses[f.state];
    const bucket = (k: keyof Buckets, which: 'before' | 'after') => resources.map((c) => c[which][k]);
    return [
      // fence updates: $1..$7, their count $8
      updates.map((c) => c.orderId),
      updates.map((c) => c.after.resourceId),
      updates.map((c) => status(c.before)),
      updates.map((c) => Object.keys(c.before.replies).length),
      updates.map((c) => status(c.after)),
      updates.map((c) => (c.after.reason !== c.before.reason ? c.after.reason : null)),
      updates.map((c) => JSON.stringify(this.repliesJson(c.after.replies, c.before.replies))),
      updates.length,
      // resources: $9..$15, their count $16
      resources.map((c) => c.id),
      bucket('free', 'before'),
      bucket('held', 'before'),
      bucket('final', 'before'),
      bucket('free', 'after'),
      bucket('held', 'after'),
      bucket('final', 'after'),
      resources.length,
      // fence inserts: $17..$23, their count $24, then one array per copied column
      inserts.map((c) => c.orderId),
      inserts.map((c) => c.after.resourceId),
      inserts.map((c) => c.after.amount),
      inserts.map((c) => status(c.after)),
      inserts.map((c) => c.after.reason),
      inserts.map((c) => c.after.expiresAt?.toISOString() ?? null),
      inserts.map((c) => JSON.stringify(this.repliesJson(c.after.replies, {}))),
      inserts.length,
      ...this.copied.map(([column]) => inserts.map((c) => c.after.copied[column] ?? null)),
    ];
  }

  /** The replies of `after` that `before` has not, under the participant's phase keys. */
  private repliesJson(after: Partial<Record<Phase, R>>, before: Partial<Record<Phase, R>>) {
    const added: Record<string, R> = {};
    for (const phase of PHASES) {
      const reply = after[phase];
      if (reply !== undefined && before[phase] === undefined) added[this.t.fences.phases[phase]] = reply;
    }
    return added;
  }

  /**
   * PostgreSQL promises no order among the parts of a WITH, so each part starts behind the one
   * before it: an uncorrelated count of the earlier part in its WHERE is a one-time filter,
   * evaluated before the part reads a row, and keeps it from touching anything once the earlier
   * part came up short. A fence must still have the status and the number of replies it was read
   * with (replies are only ever added, so the count says none was); a resource must still have
   * the buckets read; a new fence must not exist (its primary key). The final SELECT checks every
   * count, so a run that lost a race fails whole (SQLSTATE 40001, or 23505 from a key).
   */
  private writeText(): string {
    const { fences: f, resources: r } = this.t;
    const T = r.type;
    const copiedColumns = this.copied.map(([c]) => `, ${c}`).join('');
    const copiedArrays = this.copied.map(([, type], i) => `, $${25 + i}::${type}[]`).join('');
    return `WITH fl AS MATERIALIZED (
        SELECT f.order_id, f.${f.resource} AS resource_id, t.status, t.reason, t.added
          FROM ${f.table} f
          JOIN unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::jsonb[])
               AS t(order_id, resource_id, read_status, read_count, status, reason, added)
            ON f.order_id = t.order_id AND f.${f.resource} = t.resource_id
         WHERE f.status = t.read_status AND (SELECT count(*) FROM jsonb_object_keys(f.replies)) = t.read_count
         ORDER BY f.order_id, f.${f.resource} COLLATE "C"
           FOR UPDATE OF f),
      fu AS (
        UPDATE ${f.table} f
           SET status = fl.status, reason = coalesce(fl.reason, f.reason), replies = f.replies || fl.added,
               updated_at = now()
          FROM fl WHERE f.order_id = fl.order_id AND f.${f.resource} = fl.resource_id
        RETURNING 1),
      rl AS MATERIALIZED (
        SELECT r.${r.id} AS id, d.free, d.held, d.final
          FROM ${r.table} r
          JOIN unnest($9::text[], $10::${T}[], $11::${T}[], $12::${T}[], $13::${T}[], $14::${T}[], $15::${T}[])
               AS d(id, read_free, read_held, read_final, free, held, final) ON r.${r.id} = d.id
         WHERE r.${r.free} = d.read_free AND r.${r.held} = d.read_held AND r.${r.final} = d.read_final
           AND (SELECT count(*) FROM fu) = $8
         ORDER BY r.${r.id} COLLATE "C"
           FOR UPDATE OF r),
      ru AS (
        UPDATE ${r.table} r SET ${r.free} = rl.free, ${r.held} = rl.held, ${r.final} = rl.final, updated_at = now()
          FROM rl WHERE r.${r.id} = rl.id
        RETURNING 1),
      fi AS (
        INSERT INTO ${f.table} (order_id, ${f.resource}, ${f.amount}, status, reason, expires_at, replies${copiedColumns})
        SELECT * FROM unnest($17::uuid[], $18::text[], $19::${T}[], $20::text[], $21::text[], $22::timestamptz[],
                             $23::jsonb[]${copiedArrays})
         WHERE (SELECT count(*) FROM ru) = $16
        RETURNING 1)
      SELECT ${batchExpect('(SELECT count(*) FROM fu) = $8', 'a fence changed since it was read')},
             ${batchExpect('(SELECT count(*) FROM ru) = $16', 'a resource changed since it was read')},
             ${batchExpect('(SELECT count(*) FROM fi) = $24', 'a fence appeared since it was read')}`;
  }
}
