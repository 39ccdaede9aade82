import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client } from 'pg';
import type { Message, TopicMessages } from 'kafkajs';
import { DataSource } from 'typeorm';
import { pgArray } from '@tcc/database';
import { counter, gauge } from '@tcc/observability';
import type { AnyEnvelope } from '@tcc/contracts';
import { backoffDelay, defaultRetryPolicy, KafkaConnections } from '@tcc/kafka';
import { kafkaMessageOf } from './kafka-message';
import { clearLocalRelay, OUTBOX_CHANNEL, setLocalRelay } from './outbox-writer';

export interface OutboxRelayOptions {
  databaseUrl: string;
  /** rows published per round */
  batchSize: number;
  /** fallback polling when no NOTIFY arrives (e.g. the listening connection dropped) */
  pollIntervalMs: number;
  /** VACUUM the outbox after this many deleted rows (default 5 000; 0: never) */
  vacuumEveryRows?: number;
}
export const OUTBOX_RELAY_OPTIONS = Symbol('OUTBOX_RELAY_OPTIONS');

/** The outbox table: the relay vacuums it itself, every `vacuumEveryRows` deletes (see deleted()). */
export const OUTBOX_TABLE = 'outbox';

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  envelope: AnyEnvelope;
  headers: Record<string, string>;
}

const vacuums = counter({
  name: 'tcc_outbox_vacuums_total',
  help: 'VACUUMs of the outbox table the relay ran, by outcome',
  labelNames: ['outcome'],
});

const published = counter({
  name: 'tcc_outbox_published_total',
  help: 'Messages the outbox relay published (acknowledged by Kafka)',
  labelNames: ['topic'],
});

/** Deleted rows after which the outbox is vacuumed, unless the options say otherwise. */
const DEFAULT_VACUUM_EVERY_ROWS = 5_000;

/** How long published rows may wait for a round to delete them when no NOTIFY comes. */
const ACKNOWLEDGED_DELETE_MS = 50;

/** Any integer that is the same in every instance of one service: one relay at a time per database. */
const RELAY_LOCK = 7_340_001;

/**
 * Publishes the outbox in id order and deletes what Kafka acknowledged (acks=all). Rows whose
 * writer sends them itself (a `relay_after` ahead, see outboxInsert's `relayAfterMs`) are left to
 * it: the writer reports what Kafka acknowledged (`acknowledge`) and the relay deletes those rows
 * unsent; it sends such a row only once `relay_after` has passed. The relay works
 * on a connection of its own, on which it LISTENs for the writers' NOTIFY (the writers of its own
 * process wake it directly while it leads: writeAndWake) and holds a session
 * advisory lock: only one instance relays at a time, so messages with one key are never published
 * out of order even with several instances of a service; the others poll for the lock and take
 * over when the holder's connection ends. A round is one statement that deletes the batches Kafka
 * acknowledged since the last round and reads the next one: one round trip per batch, also when
 * batches are single messages. A failed send keeps the rows; they are sent again (consumers
 * de-duplicate by message id and by their TCC fence), as are rows a crash left undeleted (those
 * of the last 50 ms, or, when PostgreSQL itself crashes, the deletes of the last few hundred ms: the
 * relay commits without waiting for the WAL flush).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger(OutboxRelay.name);
  private running = false;
  private loop: Promise<void> | undefined;
  private client: Client | undefined;
  /** whether this instance holds the relay lock (on `client`) */
  private leader = false;
  private wake: (() => void) | undefined;
  /** a NOTIFY (or shutdown) arrived while the relay was busy: the next idle() returns at once */
  private woken = false;
  /** rows Kafka acknowledged (sent by the relay or by their writer), deleted by the next round */
  private acknowledged: string[] = [];
  /** a round is due soon to delete what writers' acknowledgements added */
  private deleteSoon: NodeJS.Timeout | undefined;
  /** rows deleted since the last VACUUM started */
  private deletedSinceVacuum = 0;
  private vacuuming: Promise<void> | undefined;
  /** what this process's writers call instead of NOTIFY while this relay leads */
  private readonly wakeUp = () => this.notify();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly kafka: KafkaConnections,
    @Inject(OUTBOX_RELAY_OPTIONS) private readonly options: OutboxRelayOptions,
  ) {
    const db = this.dataSource;
    gauge({
      name: 'tcc_outbox_backlog',
      help: 'Messages written to the outbox and not yet published',
      async collect() {
        const [row] = await db.query<{ count: string }[]>('SELECT count(*) FROM outbox');
        this.set(Number(row?.count ?? 0));
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    // a hybrid app (HTTP + the Kafka consumer) calls bootstrap hooks twice
    if (this.running) return;
    this.running = true;
    await this.connect().catch((error: unknown) =>
      this.log.warn({ msg: 'outbox relay cannot connect yet; retrying', err: error }),
    );
    this.loop = this.run();
  }

  /** Stops after publishing what is already in the outbox (the last handled messages' replies). */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    clearTimeout(this.deleteSoon);
    this.notify();
    await this.loop;
    try {
      if (this.leader) await this.publishAll();
    } catch (error) {
      this.log.warn({ msg: 'outbox not drained at shutdown; it is published after the restart', err: error });
    }
    await this.vacuuming;
    await this.disconnect();
  }

  /**
   * Rows that their writer sent itself (DirectPublisher) and Kafka acknowledged: deleted within
   * about 50 ms, by the next round of this instance (the leader's rounds, or a standby's own
   * delete), so the relay never sends them.
   */
  acknowledge(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.acknowledged.push(...ids);
    this.deleteSoon ??= setTimeout(() => {
      this.deleteSoon = undefined;
      this.notify();
    }, ACKNOWLEDGED_DELETE_MS);
  }

  /** For tests: whether this instance is the one relaying. */
  get isLeader(): boolean {
    return this.leader;
  }

  private async connect(): Promise<Client> {
    if (this.client) return this.client;
    const client = new Client({
      connectionString: this.options.databaseUrl,
      application_name: 'tcc-outbox-relay',
    });
    client.on('notification', () => this.notify());
    client.on('error', (error) => {
      this.log.warn({ msg: 'outbox relay connection lost; reconnecting', err: error });
      if (this.client === client) void this.disconnect();
    });
    await client.connect();
    try {
      // a round only deletes rows Kafka has acknowledged: if PostgreSQL crashes before that delete
      // reaches the disk, the rows are published again, which consumers are built for (message
      // ids, TCC fences). So the relay need not wait for a WAL flush on every round.
      await client.query(`SET synchronous_commit = off; LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    return client;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (this.leader) {
      this.log.log('outbox relay stepped down');
      clearLocalRelay(this.dataSource, this.wakeUp);
    }
    this.leader = false;
    await client?.end().catch(() => undefined);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const client = await this.connect();
        if (!this.leader) {
          const [row] = (
            await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RELAY_LOCK])
          ).rows;
          this.leader = row?.ok === true;
          if (this.leader) {
            this.log.log('outbox relay is the leader for this database');
            // this process's writers now wake it directly instead of by NOTIFY (writeAndWake)
            setLocalRelay(this.dataSource, this.wakeUp);
          }
        }
        failures = 0;
        if (!this.leader) {
          // a standby: NOTIFYs are the leader's business; it only deletes what its own writers
          // sent, and asks for the lock again after a while
          await this.deleteAcknowledged(client);
          await this.pause(this.options.pollIntervalMs);
          continue;
        }
        await this.publishAll();
        // published rows wait for the next round to be deleted: soon, if no NOTIFY brings one first
        const wait = this.acknowledged.length > 0 ? ACKNOWLEDGED_DELETE_MS : this.options.pollIntervalMs;
        await this.idle(Math.min(wait, this.options.pollIntervalMs));
      } catch (error) {
        failures++;
        const delay = backoffDelay(defaultRetryPolicy, Math.min(failures, 10));
        this.log.error({
          msg: 'outbox publish failed; retrying',
          err: error,
          attempt: failures,
          delayMs: delay,
        });
        if (!this.client && this.leader) {
          this.leader = false;
          clearLocalRelay(this.dataSource, this.wakeUp);
        }
        // not cut short by NOTIFY: while Kafka is away, every new row would otherwise retry at once
        await this.pause(delay);
      }
    }
  }

  /**
   * Publishes what the outbox holds: each round deletes what Kafka acknowledged before and reads
   * the next batch in the same statement. A batch smaller than the limit was the last one; its
   * rows are deleted by the next round (the next NOTIFY, the poll, or shutdown). Returns how many
   * messages it published.
   */
  async publishAll(): Promise<number> {
    const client = await this.connect();
    let total = 0;
    for (;;) {
      this.woken = false;
      const done = this.acknowledged;
      this.acknowledged = [];
      let rows: OutboxRow[];
      try {
        // rows whose writer sends them (relay_after ahead) are the relay's only once overdue
        ({ rows } = await client.query<OutboxRow>({
          name: 'tcc_outbox_round', // prepared: planned once on this connection
          text: `WITH sent AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]))
                 SELECT id, topic, key, envelope, headers FROM outbox
                  WHERE id <> ALL($1::bigint[]) AND relay_after <= now() ORDER BY id LIMIT $2`,
          values: [pgArray(done), this.options.batchSize],
        }));
      } catch (error) {
        this.acknowledged = done.concat(this.acknowledged);
        throw error;
      }
      this.deleted(done.length);
      if (rows.length === 0) return total;
      await this.kafka.producer.sendBatch({
        acks: -1,
        topicMessages: groupByTopic(rows).map((t) => ({ ...t, topic: this.kafka.topic(t.topic) })),
      });
      for (const r of rows) published.inc({ topic: r.topic });
      this.acknowledged.push(...rows.map((r) => r.id));
      total += rows.length;
      if (rows.length < this.options.batchSize && this.running) return total;
    }
  }

  /** A standby's round: deletes the rows its own writers sent and Kafka acknowledged. */
  private async deleteAcknowledged(client: Client): Promise<void> {
    const done = this.acknowledged;
    if (done.length === 0) return;
    this.acknowledged = [];
    try {
      await client.query({
        name: 'tcc_outbox_delete',
        text: 'DELETE FROM outbox WHERE id = ANY($1::bigint[])',
        values: [pgArray(done)],
      });
    } catch (error) {
      this.acknowledged = done.concat(this.acknowledged);
      throw error;
    }
    this.deleted(done.length);
  }

  /**
   * Every message is a row inserted and deleted, so the outbox is a queue table: its dead rows
   * pile up unless vacuumed, and each round's read walks over their index entries (with 96 000 dead
   * rows, a round on an empty outbox read 189 pages, 0.8 ms). Autovacuum may be off or too slow
   * for such a table, so the relay vacuums it itself after every `vacuumEveryRows` deletes, on a
   * pooled connection, while it goes on publishing.
   */
  private deleted(rows: number): void {
    const every = this.options.vacuumEveryRows ?? DEFAULT_VACUUM_EVERY_ROWS;
    this.deletedSinceVacuum += rows;
    if (every <= 0 || this.deletedSinceVacuum < every || this.vacuuming) return;
    this.deletedSinceVacuum = 0;
    this.vacuuming = this.dataSource
      .query(`VACUUM (SKIP_LOCKED) ${OUTBOX_TABLE}`)
      .then(
        () => vacuums.inc({ outcome: 'done' }),
        (error: unknown) => {
          vacuums.inc({ outcome: 'failed' });
          this.log.warn({ msg: 'outbox VACUUM failed; tried again later', err: error });
        },
      )
      .finally(() => (this.vacuuming = undefined));
  }

  private async pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.running && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }

  private notify(): void {
    this.woken = true;
    this.wake?.();
  }

  /**
   * Waits for a NOTIFY, or `ms` at most. A notification that came while the last batch was being
   * published (rows committed after its read) ends the wait at once, so no message waits for the
   * poll interval.
   */
  private idle(ms: number): Promise<void> {
    if (this.woken || !this.running) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** For tests and the shutdown drain: publish until the outbox is empty. */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [{ count } = { count: '0' }] = await this.dataSource.query<
        {
          count: string;
        }[]
      >('SELECT count(*) FROM outbox');
      if (count === '0') return;
      if (Date.now() > deadline) throw new Error(`outbox still has ${count} rows after ${timeoutMs} ms`);
      await sleep(20);
    }
  }
}

/** Keeps the outbox order within each topic (kafkajs sends each topic's messages in array order). */
function groupByTopic(rows: OutboxRow[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const row of rows) {
    const message = kafkaMessageOf(row.key, row.envelope, row.headers);
    const list = byTopic.get(row.topic);
    if (list) list.push(message);
    else byTopic.set(row.topic, [message]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
