import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client } from 'pg';
import type { Message, TopicMessages } from 'kafkajs';
import { DataSource } from 'typeorm';
import { Headers } from '@tcc/contracts';
import { counter, gauge } from '@tcc/observability';
import type { AnyEnvelope } from '@tcc/contracts';
import { backoffDelay, defaultRetryPolicy, KafkaConnections } from '@tcc/kafka';
import { OUTBOX_CHANNEL } from './outbox-writer';

export interface OutboxRelayOptions {
  databaseUrl: string;
  /** rows published per round */
  batchSize: number;
  /** fallback polling when no NOTIFY arrives (e.g. the listening connection dropped) */
  pollIntervalMs: number;
}
export const OUTBOX_RELAY_OPTIONS = Symbol('OUTBOX_RELAY_OPTIONS');

interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  envelope: AnyEnvelope;
  headers: Record<string, string>;
}

const published = counter({
  name: 'tcc_outbox_published_total',
  help: 'Messages the outbox relay published (acknowledged by Kafka)',
  labelNames: ['topic'],
});

/** Any integer that is the same in every instance of one service: one relay at a time per database. */
const RELAY_LOCK = 7_340_001;

/**
 * Publishes the outbox in id order and deletes what Kafka acknowledged (acks=all), in one
 * database transaction per batch. A transaction-scoped advisory lock lets only one instance relay
 * at a time, so messages with one key are never published out of order, even with several
 * instances of a service. A failed send rolls back: the rows stay and are sent again (consumers
 * de-duplicate by message id and by their TCC fence).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger(OutboxRelay.name);
  private running = false;
  private loop: Promise<void> | undefined;
  private listener: Client | undefined;
  private wake: (() => void) | undefined;
  /** a NOTIFY (or shutdown) arrived while the relay was busy: the next idle() returns at once */
  private woken = false;

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
    await this.listen();
    this.loop = this.run();
  }

  /** Stops after publishing what is already in the outbox (the last handled messages' replies). */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
    try {
      while ((await this.publishBatch()) > 0);
    } catch (error) {
      this.log.warn({ msg: 'outbox not drained at shutdown; it is published after the restart', err: error });
    }
    await this.listener?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    try {
      const client = new Client({
        connectionString: this.options.databaseUrl,
        application_name: 'tcc-outbox-listener',
      });
      client.on('notification', () => this.notify());
      client.on('error', (error) => {
        this.log.warn({ msg: 'outbox listener lost; polling until it is back', err: error });
        this.listener = undefined;
        void client.end().catch(() => undefined);
      });
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.listener = client;
    } catch (error) {
      this.log.warn({ msg: 'cannot LISTEN for outbox notifications; polling', err: error });
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const published = await this.publishBatch();
        failures = 0;
        if (published === this.options.batchSize) continue;
        if (!this.listener) await this.listen();
        await this.idle(this.options.pollIntervalMs);
      } catch (error) {
        failures++;
        const delay = backoffDelay(defaultRetryPolicy, Math.min(failures, 10));
        this.log.error({
          msg: 'outbox publish failed; retrying',
          err: error,
          attempt: failures,
          delayMs: delay,
        });
        // not cut short by NOTIFY: while Kafka is away, every new row would otherwise retry at once
        await this.pause(delay);
      }
    }
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
   * published (rows committed after its SELECT) ends the wait at once, so no message waits for the
   * poll interval.
   */
  private idle(ms: number): Promise<void> {
    if (this.woken) {
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

  /** Publishes one batch; returns how many rows it published (0 when another instance holds the lock). */
  async publishBatch(): Promise<number> {
    return this.dataSource.transaction(async (manager) => {
      const [lock] = await manager.query<
        {
          ok: boolean;
        }[]
      >('SELECT pg_try_advisory_xact_lock($1) AS ok', [RELAY_LOCK]);
      if (!lock?.ok) return 0;
      const rows = await manager.query<OutboxRow[]>(
        'SELECT id, topic, key, envelope, headers FROM outbox ORDER BY id LIMIT $1',
        [this.options.batchSize],
      );
      if (rows.length === 0) return 0;
      await this.kafka.producer.sendBatch({
        acks: -1,
        topicMessages: groupByTopic(rows).map((t) => ({ ...t, topic: this.kafka.topic(t.topic) })),
      });
      await manager.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      for (const r of rows) published.inc({ topic: r.topic });
      return rows.length;
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
    const e = row.envelope;
    const message: Message = {
      key: row.key,
      value: JSON.stringify(e),
      headers: {
        ...row.headers,
        [Headers.messageId]: e.messageId,
        [Headers.messageType]: e.type,
        [Headers.correlationId]: e.correlationId,
        [Headers.schemaVersion]: String(e.schemaVersion),
        ...(e.causationId ? { [Headers.causationId]: e.causationId } : {}),
      },
    };
    const list = byTopic.get(row.topic);
    if (list) list.push(message);
    else byTopic.set(row.topic, [message]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
