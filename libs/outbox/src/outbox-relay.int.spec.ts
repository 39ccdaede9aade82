import { randomUUID } from 'node:crypto';
import { createMessage, Topics } from '@tcc/contracts';
import { KafkaConnections } from '@tcc/kafka';
import { migratedTestDatabase, readTopic, testBrokers, testKafka, uniqueName, waitFor } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import {
  Outbox1763750000000,
  OutboxKeepsItsPages1763910000000,
  OutboxRelayAfter1763920000000,
} from './outbox.migration';
import { OutboxRelay } from './outbox-relay';
import { Client } from 'pg';
import {
  enqueueMessages,
  NOTIFY_OUTBOX,
  OUTBOX_CHANNEL,
  outboxIdsOf,
  outboxInsert,
  outboxRows,
  SqlParams,
  writeAndWake,
} from './outbox-writer';
import { DirectPublisher } from './direct-publisher';

describe('OutboxRelay against a real broker and database', () => {
  let database: MigratedDatabase;
  let kafka: KafkaConnections;
  let relay: OutboxRelay;
  let prefix: string;

  beforeEach(async () => {
    database = await migratedTestDatabase(
      'outbox_relay',
      [],
      [Outbox1763750000000, OutboxKeepsItsPages1763910000000, OutboxRelayAfter1763920000000],
    );
    prefix = `${uniqueName('relay')}.`;
    kafka = new KafkaConnections({
      clientId: 'relay-test',
      brokers: testBrokers(),
      topics: [Topics.stockCommands],
      topicPrefix: prefix,
      topicPartitions: 3,
      replicationFactor: 1,
    });
    await kafka.onModuleInit();
    const url = (database.db.options as { url: string }).url;
    // a poll far longer than the test: every row must be published because of its NOTIFY
    relay = new OutboxRelay(database.db, kafka, { databaseUrl: url, batchSize: 50, pollIntervalMs: 600_000 });
    await relay.onApplicationBootstrap();
  });

  afterEach(async () => {
    await relay.beforeApplicationShutdown();
    await kafka.onApplicationShutdown();
    await database.drop();
  });

  function command(orderId: string, n: number) {
    return createMessage(
      'StockConfirm',
      { orderId, productId: `product-${n % 5}` },
      { correlationId: orderId },
    );
  }

  it('lets one relay of a database publish at a time, and another take over when it stops', async () => {
    const url = (database.db.options as { url: string }).url;
    const standby = new OutboxRelay(database.db, kafka, {
      databaseUrl: url,
      batchSize: 50,
      pollIntervalMs: 50,
    });
    await standby.onApplicationBootstrap();
    try {
      await waitFor(() => relay.isLeader, { description: 'the first relay to lead' });
      expect(standby.isLeader).toBe(false);
      await relay.beforeApplicationShutdown();
      await waitFor(() => standby.isLeader, { description: 'the standby to take over' });
      const orderId = randomUUID();
      const message = command(orderId, 1);
      await database.db.transaction((m) => enqueueMessages(m, [message]));
      const received = await readTopic(testKafka(), `${prefix}${Topics.stockCommands}`, (messages) =>
        messages.some((r) => r.value?.includes(message.messageId)),
      );
      expect(received.filter((r) => r.value?.includes(message.messageId))).toHaveLength(1);
    } finally {
      await standby.beforeApplicationShutdown();
    }
  });

  it('leaves the rows their writer sends to it: deletes them unsent once acknowledged, sends them once overdue', async () => {
    // a relay that polls, so a row that becomes overdue is found without a NOTIFY
    await relay.beforeApplicationShutdown();
    const url = (database.db.options as { url: string }).url;
    relay = new OutboxRelay(database.db, kafka, { databaseUrl: url, batchSize: 50, pollIntervalMs: 100 });
    await relay.onApplicationBootstrap();
    await waitFor(() => relay.isLeader, { description: 'the relay to lead' });

    const orderId = randomUUID();
    const [sentByWriter, leftOver] = [command(orderId, 1), command(orderId, 2)];
    const write = async (message: ReturnType<typeof command>, relayAfterMs: number) => {
      const p = new SqlParams();
      const [row] = await database.db.query<{ outbox_ids: string[] }[]>(
        `WITH ob AS (${outboxInsert(p, [message], { relayAfterMs })}) SELECT ${outboxIdsOf('ob')}`,
        p.values,
      );
      return row?.outbox_ids ?? [];
    };
    const outboxIds = async () =>
      (await database.db.query<{ id: string }[]>('SELECT id::text FROM outbox ORDER BY id')).map((r) => r.id);

    const writtenIds = await write(sentByWriter, 60_000);
    const leftIds = await write(leftOver, 1_500);
    expect(await outboxIds()).toEqual([...writtenIds, ...leftIds]);
    // the first writer sends its row itself, as the order service does after its statement
    const publisher = new DirectPublisher(kafka);
    await publisher.publish(outboxRows([sentByWriter]));
    relay.acknowledge(writtenIds);
    await waitFor(async () => (await outboxIds()).join() === leftIds.join(), {
      description: 'the acknowledged row to be deleted',
    });
    // the second never did: once overdue, the relay sends it
    const received = await readTopic(testKafka(), `${prefix}${Topics.stockCommands}`, (messages) =>
      messages.some((r) => r.value?.includes(leftOver.messageId)),
    );
    expect(received.map((r) => (JSON.parse(r.value ?? '{}') as { messageId: string }).messageId)).toEqual([
      sentByWriter.messageId,
      leftOver.messageId,
    ]);
    await waitFor(async () => (await outboxIds()).length === 0, {
      description: 'the relay to delete what it sent',
    });
  });

  it('publishes rows committed while a batch is in flight without waiting for the poll', async () => {
    const orderId = randomUUID();
    const sent = [];
    // many small transactions, so most commit while the relay is busy publishing an earlier batch
    for (let n = 0; n < 300; n++) {
      const message = command(orderId, n);
      sent.push(message.messageId);
      await database.db.transaction((m) => enqueueMessages(m, [message]));
    }
    await waitFor(
      async () => {
        const [row] = await database.db.query<{ count: string }[]>('SELECT count(*) FROM outbox');
        return row?.count === '0';
      },
      { timeoutMs: 30_000, description: 'the outbox to be emptied by NOTIFY alone' },
    );
    const received = await readTopic(
      testKafka(),
      `${prefix}${Topics.stockCommands}`,
      (messages) => messages.length >= sent.length,
    );
    // each product's commands arrive in the order they were written
    for (let k = 0; k < 5; k++) {
      const ids = received
        .filter((r) => r.key === `product-${k}`)
        .map((r) => (JSON.parse(r.value ?? '{}') as { messageId: string }).messageId);
      expect(ids).toEqual(sent.filter((_, n) => n % 5 === k));
    }
  });

  it("wakes its own process's leading relay directly, and NOTIFYs only when no relay here leads", async () => {
    const url = (database.db.options as { url: string }).url;
    const listener = new Client({ connectionString: url });
    const notified: string[] = [];
    listener.on('notification', (n) => notified.push(n.channel));
    await listener.connect();
    try {
      await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
      const write = (message: ReturnType<typeof command>) => {
        const p = new SqlParams();
        return writeAndWake(
          database.db,
          `WITH ob AS (${outboxInsert(p, [message])}) SELECT ${NOTIFY_OUTBOX}`,
          p.values,
        );
      };
      await waitFor(() => relay.isLeader, { description: 'the relay to lead' });
      const first = command(randomUUID(), 1);
      await write(first);
      // the poll is 10 minutes away: only the direct wake-up can have published it
      await readTopic(testKafka(), `${prefix}${Topics.stockCommands}`, (messages) =>
        messages.some((r) => r.value?.includes(first.messageId)),
      );
      await listener.query('SELECT 1'); // a notification sent before this would have arrived by now
      expect(notified).toEqual([]);

      await relay.beforeApplicationShutdown();
      await write(command(randomUUID(), 2));
      await waitFor(() => notified.length === 1, {
        description: 'a NOTIFY for the relay of another process',
      });
      expect(notified).toEqual([OUTBOX_CHANNEL]);
    } finally {
      await listener.end();
    }
  });

  it('vacuums the outbox itself after every so many deleted rows, so dead rows do not pile up', async () => {
    await relay.beforeApplicationShutdown();
    const url = (database.db.options as { url: string }).url;
    relay = new OutboxRelay(database.db, kafka, {
      databaseUrl: url,
      batchSize: 10,
      pollIntervalMs: 50,
      vacuumEveryRows: 20,
    });
    await relay.onApplicationBootstrap();
    const vacuumCount = async () => {
      const [row] = await database.db.query<{ n: string }[]>(
        `SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'outbox'`,
      );
      return Number(row?.n ?? 0);
    };
    const before = await vacuumCount();
    const orderId = randomUUID();
    for (let n = 0; n < 60; n++) {
      await database.db.transaction((m) => enqueueMessages(m, [command(orderId, n)]));
    }
    await relay.drain();
    await waitFor(async () => (await vacuumCount()) > before, { description: 'a VACUUM of the outbox' });
  });

  it('keeps its pages when vacuumed empty: truncating them would lock every writer out', async () => {
    const orderId = randomUUID();
    await database.db.transaction((m) =>
      enqueueMessages(
        m,
        Array.from({ length: 200 }, (_, n) => command(orderId, n)),
      ),
    );
    const size = async () => {
      const [row] = await database.db.query<{ pages: string }[]>(
        `SELECT pg_relation_size('outbox') / current_setting('block_size')::int AS pages`,
      );
      return Number(row?.pages);
    };
    const filled = await size();
    expect(filled).toBeGreaterThan(1);
    await relay.drain();
    await relay.beforeApplicationShutdown(); // its last round deletes the last batch's rows
    // every row is gone: without the setting, VACUUM truncates the table to 0 pages
    await database.db.query('VACUUM outbox');
    expect(await database.db.query('SELECT 1 FROM outbox')).toHaveLength(0);
    expect(await size()).toBe(filled);
  });
});
