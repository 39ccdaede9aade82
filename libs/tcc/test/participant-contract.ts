/*
 * The contract every TCC participant keeps, as one Jest suite that each participant's int tests
 * run against its own engine, real PostgreSQL and real Kafka:
 * - a run of commands ends exactly as the same commands one by one (property-based: duplicates,
 *   cancels before tries, late tries, expiries, confirms after expiry, compensations);
 * - one lock order everywhere: confirms, cancels, the sweeper and batches racing on the same rows,
 *   with ids that sort differently by byte and by collation, never deadlock.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import type { AnyEnvelope, SagaMessage } from '@tcc/contracts';
import type { BatchedMessage } from '@tcc/kafka';
import { waitFor } from '@tcc/testing';

/** What the contract drives: the participant's engine, as its service exposes it. */
export interface EngineUnderTest<C extends SagaMessage> {
  handle(command: C): Promise<void>;
  handleBatch(messages: readonly BatchedMessage<C>[]): Promise<number>;
  expireOverdue(limit?: number): Promise<number>;
}

export interface ParticipantUnderTest<C extends SagaMessage> {
  /** the test database and the engine on it; `engine(db)` builds one on another connection pool */
  db(): DataSource;
  engine(db?: DataSource): EngineUnderTest<C>;
  /** whether an order has one branch per resource (stock) or one per order (payment) */
  branchPerResource: boolean;
  /** creates a resource with `free` to take */
  createResource(id: string, free: number): Promise<void>;
  buckets(id: string): Promise<{ free: number; held: number; final: number }>;
  fences: { table: string; resource: string };
  resources: { table: string; id: string };
  commands: {
    try(orderId: string, resourceId: string, amount: number, deadlineMs: number): C;
    confirm(orderId: string, resourceId: string): C;
    cancel(orderId: string, resourceId: string): C;
    compensate(orderId: string, resourceId: string): C;
  };
  /** the replies sent for these orders, in the order they were sent */
  replies(...orderIds: string[]): Promise<AnyEnvelope[]>;
}

type Event =
  | { kind: 'try'; order: number; resource: number; amount: number; late: boolean }
  | { kind: 'confirm' | 'cancel' | 'compensate'; order: number; resource: number }
  /** the command `back` places earlier, delivered again (same message id) */
  | { kind: 'again'; back: number }
  /** the order's live holds reach their time to live, and the sweeper runs */
  | { kind: 'expire'; order: number };

const ORDERS = 4;
const RESOURCES = 2;

const events = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('try' as const),
        order: fc.nat(ORDERS - 1),
        resource: fc.nat(RESOURCES - 1),
        amount: fc.integer({ min: 1, max: 3 }),
        late: fc.boolean(),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constantFrom('confirm' as const, 'cancel' as const, 'compensate' as const),
        order: fc.nat(ORDERS - 1),
        resource: fc.nat(RESOURCES - 1),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('again' as const), back: fc.integer({ min: 1, max: 4 }) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), order: fc.nat(ORDERS - 1) }) },
  ),
  { minLength: 1, maxLength: 24 },
);

export function participantContract<C extends SagaMessage>(name: string, p: ParticipantUnderTest<C>): void {
  describe(`${name} keeps the participant contract`, () => {
    /** One world of resources and orders, so two runs of the same events compare by name. */
    async function world(free: number) {
      const resources = Array.from({ length: RESOURCES }, () => `r-${randomUUID().slice(0, 8)}`);
      for (const id of resources) await p.createResource(id, free);
      const orders = Array.from({ length: ORDERS }, () => randomUUID());
      return { resources, orders };
    }
    type World = Awaited<ReturnType<typeof world>>;

    /** The events as commands of `w`; `expire` splits them into segments. */
    function segments(w: World, list: readonly Event[]): { commands: C[]; expire?: string }[] {
      const out: { commands: C[]; expire?: string }[] = [{ commands: [] }];
      const sent: C[] = [];
      const resourceOf = (e: { order: number; resource: number }) =>
        // one branch per order: every command of an order names the same resource
        w.resources[p.branchPerResource ? e.resource : e.order % RESOURCES]!;
      for (const e of list) {
        const current = out[out.length - 1]!;
        let command: C | undefined;
        switch (e.kind) {
          case 'try':
            command = p.commands.try(w.orders[e.order]!, resourceOf(e), e.amount, e.late ? -1_000 : 60_000);
            break;
          case 'confirm':
          case 'cancel':
          case 'compensate':
            command = p.commands[e.kind](w.orders[e.order]!, resourceOf(e));
            break;
          case 'again':
            command = sent[sent.length - e.back];
            break;
          case 'expire':
            current.expire = w.orders[e.order]!;
            out.push({ commands: [] });
            break;
        }
        if (command) {
          sent.push(command);
          current.commands.push(command);
        }
      }
      return out;
    }

    async function expire(orderId: string): Promise<void> {
      await p.db().query(
        `UPDATE ${p.fences.table} SET expires_at = now() - interval '1 second'
          WHERE order_id = $1 AND expires_at IS NOT NULL`,
        [orderId],
      );
      const engine = p.engine();
      while ((await engine.expireOverdue(100)) > 0);
    }

    const batched = (commands: readonly C[]): BatchedMessage<C>[] =>
      commands.map((envelope) => ({ envelope, within: async (fn) => fn() }));

    /** As the transport consumes a partition: the rest to the batch handler, the first alone if it took none. */
    async function consume(commands: readonly C[]): Promise<void> {
      const engine = p.engine();
      for (let i = 0; i < commands.length;) {
        const taken = await engine.handleBatch(batched(commands.slice(i)));
        if (taken === 0) await engine.handle(commands[i]!);
        i += Math.max(taken, 1);
      }
    }

    /** What a run left: buckets, fences and replies, with its ids replaced by names. */
    async function outcome(w: World, commands: readonly C[]) {
      const names = new Map<string, string>([
        ...w.resources.map((id, i): [string, string] => [id, `r${i}`]),
        ...w.orders.map((id, i): [string, string] => [id, `o${i}`]),
      ]);
      const ids = new Map<string, number>();
      const named = (value: unknown): unknown =>
        JSON.parse(
          JSON.stringify(value, (key, v: unknown) => {
            if (key === 'expiresAt' || key === 'occurredAt' || key === 'correlationId') return undefined;
            if (key === 'messageId' && typeof v === 'string') {
              if (!ids.has(v)) ids.set(v, ids.size);
              return ids.get(v);
            }
            if (key === 'causationId' && typeof v === 'string')
              return commands.findIndex((c) => c.messageId === v);
            return typeof v === 'string' ? (names.get(v) ?? v) : v;
          }),
        );
      const buckets = await Promise.all(w.resources.map((id) => p.buckets(id)));
      const fences = await p.db().query<unknown[]>(
        `SELECT order_id, ${p.fences.resource} AS resource, status, reason, expires_at IS NOT NULL AS expires, replies
             FROM ${p.fences.table} WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, ${p.fences.resource}`,
        [w.orders],
      );
      const replies = await p.replies(...w.orders);
      const perOrder = w.orders.map((o) => replies.filter((r) => r.correlationId === o));
      // replies first: message ids are numbered in the order the orders' replies were sent
      const sentReplies = named(perOrder);
      const sortedFences = (named(fences) as unknown[]).map((r) => JSON.stringify(r)).sort();
      return { buckets, fences: sortedFences, replies: sentReplies };
    }

    it('ends a run of commands exactly as the same commands one by one', async () => {
      await fc.assert(
        fc.asyncProperty(events, async (list) => {
          const one = await world(4);
          const oneSegments = segments(one, list);
          for (const s of oneSegments) {
            for (const c of s.commands) await p.engine().handle(c);
            if (s.expire) await expire(s.expire);
          }
          const run = await world(4);
          const runSegments = segments(run, list);
          for (const s of runSegments) {
            await consume(s.commands);
            if (s.expire) await expire(s.expire);
          }
          const expected = await outcome(
            one,
            oneSegments.flatMap((s) => s.commands),
          );
          expect(
            await outcome(
              run,
              runSegments.flatMap((s) => s.commands),
            ),
          ).toEqual(expected);
          // every bucket adds up to what the resource started with
          for (const b of expected.buckets) expect(b.free + b.held + b.final).toBe(4);
        }),
        { numRuns: Number(process.env['TCC_PROPERTY_RUNS'] ?? 25), endOnFailure: true },
      );
    });

    describe('locks resources in byte order of their ids, whatever the collation', () => {
      // a, B, ä, Z-1: by bytes B < Z-1 < a < ä; a collation puts a and ä first
      const ids = () => {
        const suffix = randomUUID().slice(0, 6);
        return ['a', 'B', 'ä', 'Z-1'].map((id) => `${id}-${suffix}`);
      };
      const byBytes = (list: string[]) =>
        [...list].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

      beforeAll(async () => {
        // this test database's ids sort by a linguistic collation (ICU's root locale: a, ä, B,
        // Z-1), as a production database's default may, so that only an explicit byte order
        // passes; the server's own default here may well be C
        for (const [table, column] of [
          [p.resources.table, p.resources.id],
          [p.fences.table, p.fences.resource],
        ] as const) {
          await p.db().query(`ALTER TABLE ${table} ALTER COLUMN ${column} TYPE text COLLATE "und-x-icu"`);
        }
      });

      /** Holds `id`'s row lock until the returned function commits. */
      async function hold(id: string) {
        const runner = p.db().createQueryRunner();
        await runner.connect();
        await runner.startTransaction();
        await runner.query(`SELECT 1 FROM ${p.resources.table} WHERE ${p.resources.id} = $1 FOR UPDATE`, [
          id,
        ]);
        return async () => {
          await runner.commitTransaction();
          await runner.release();
        };
      }

      /** The ids among `list` whose rows someone has locked. */
      async function locked(list: string[]): Promise<string[]> {
        const free = await p
          .db()
          .transaction((m) =>
            m.query<{ id: string }[]>(
              `SELECT ${p.resources.id} AS id FROM ${p.resources.table} WHERE ${p.resources.id} = ANY($1::text[]) FOR UPDATE SKIP LOCKED`,
              [list],
            ),
          );
        const unlocked = new Set(free.map((r) => r.id));
        return byBytes(list.filter((id) => !unlocked.has(id)));
      }

      const blocked = () =>
        waitFor(
          async () =>
            (
              await p
                .db()
                .query<unknown[]>(
                  `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
                )
            ).length > 0,
          { description: 'the statement to wait for the held row', timeoutMs: 10_000, intervalMs: 10 },
        );

      /** While the third id by bytes is held, `work` must hold exactly the ids before it. */
      async function expectByteOrder(resources: string[], work: () => Promise<unknown>) {
        const order = byBytes(resources);
        const release = await hold(order[2]!);
        const done = work();
        await blocked();
        expect(await locked(resources)).toEqual(order.slice(0, 3));
        await release();
        await done;
      }

      const tryEach = (resources: string[]) =>
        resources.map((r) => {
          const order = randomUUID();
          return p.commands.try(order, r, 1, 60_000);
        });

      it('in a batch', async () => {
        const resources = ids();
        for (const id of resources) await p.createResource(id, 10);
        await expectByteOrder(resources, () => p.engine().handleBatch(batched(tryEach(resources))));
      });

      it('in the sweeper', async () => {
        const resources = ids();
        for (const id of resources) await p.createResource(id, 10);
        const tries = tryEach(resources);
        expect(await p.engine().handleBatch(batched(tries))).toBe(tries.length);
        await p
          .db()
          .query(
            `UPDATE ${p.fences.table} SET expires_at = now() - interval '1 second' WHERE ${p.fences.resource} = ANY($1::text[])`,
            [resources],
          );
        await expectByteOrder(resources, () => p.engine().expireOverdue(100));
        for (const id of resources) expect(await p.buckets(id)).toEqual({ free: 10, held: 0, final: 0 });
      });
    });

    it('takes its locks in one order: racing confirms, cancels, sweeps and batches never deadlock', async () => {
      // byte order and a collation's order disagree on these; the locks follow bytes everywhere
      const suffix = randomUUID().slice(0, 6);
      const resources = ['a', 'B', 'ä', 'Z-1'].map((id) => `${id}-${suffix}`);
      for (const id of resources) await p.createResource(id, 1_000);
      const deadlocks = async () =>
        (
          await p
            .db()
            .query<{ n: string }[]>(
              'SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()',
            )
        )[0]?.n;
      const before = await deadlocks();

      // a pool of its own, closed at the end, so its connections report their statistics
      const lockOrderPool = `tcc-lock-order-${suffix}`;
      const own = new DataSource({
        ...(p.db().options as object),
        poolSize: 12,
        extra: { application_name: lockOrderPool },
      } as never);
      await own.initialize();
      // two engines, as two instances would be: neither waits for the other's turns in memory
      const engines = [p.engine(own), p.engine(own)];
      const engine = engines[0]!;
      const other = engines[1]!;
      const rounds = 6;
      for (let round = 0; round < rounds; round++) {
        const orders = Array.from({ length: 8 }, () => randomUUID());
        // each order tries every resource (one branch per order: one resource each)
        const branches = orders.flatMap((o, i) =>
          p.branchPerResource
            ? resources.map((r) => [o, r] as const)
            : [[o, resources[i % resources.length]!] as const],
        );
        const tries = branches.map(([o, r]) => p.commands.try(o, r, 1, 60_000));
        // two batches taking the same resources in opposite orders
        await Promise.all([
          engine.handleBatch(batched(tries.filter((_, i) => i % 2 === 0))),
          other.handleBatch(batched(tries.filter((_, i) => i % 2 === 1).reverse())),
        ]);
        await Promise.all(tries.map((t, i) => engines[i % 2]!.handle(t)));
        // half to be swept, while confirms, cancels and batches of both race on the same rows
        await own.query(
          `UPDATE ${p.fences.table} SET expires_at = now() - interval '1 second' WHERE order_id = ANY($1::uuid[])`,
          [orders.slice(0, 4)],
        );
        const settle = branches.map(([o, r], i) =>
          i % 3 === 0 ? p.commands.cancel(o, r) : p.commands.confirm(o, r),
        );
        await Promise.all([
          engine.expireOverdue(100),
          engine.handleBatch(batched(settle.slice().reverse())),
          ...settle.map((c, i) => engines[i % 2]!.handle(c)),
          other.handleBatch(batched(settle)),
          other.expireOverdue(100),
        ]);
      }
      await own.destroy();
      await waitFor(
        async () =>
          (
            await p
              .db()
              .query<unknown[]>('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [lockOrderPool])
          ).length === 0,
        { description: 'the connections of its own pool to close', timeoutMs: 10_000, intervalMs: 20 },
      );
      expect(await deadlocks()).toBe(before);
      for (const id of resources) {
        const b = await p.buckets(id);
        expect(b.free + b.held + b.final).toBe(1_000);
      }
    });
  });
}
