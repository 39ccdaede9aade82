import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { ensureTopics, subscribeWhenKnown } from '@tcc/kafka';
import type { KafkaSecurityOptions } from '@tcc/kafka';
import { Client } from 'pg';

/** Send-to-receive round trips of one message at a time (acks=all), on a topic of its own with one partition. */
export async function kafkaFloor(brokers: string[], security: KafkaSecurityOptions = {}): Promise<number[]> {
  const kafka = new Kafka({ clientId: 'tcc-bench', brokers, ...security, logLevel: logLevel.NOTHING });
  const topic = `bench.floor.${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  // the brokers' replication, as the services' topics have it
  await ensureTopics(admin, [topic], { partitions: 1 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${topic}.reader`, maxWaitTimeInMs: 100 });
  const arrived = new Map<string, () => void>();
  const samples: number[] = [];
  try {
    await Promise.all([producer.connect(), consumer.connect()]);
    // on a cluster a broker may not know the new topic yet: subscribeWhenKnown asks again
    await subscribeWhenKnown(consumer, [topic]);
    await consumer.run({
      eachMessage: async ({ message }) => arrived.get(message.value?.toString() ?? '')?.(),
    });
    for (let i = 0; i < 230; i++) {
      const id = String(i);
      const got = new Promise<void>((r) => arrived.set(id, r));
      const t0 = performance.now();
      await producer.send({ topic, acks: -1, messages: [{ value: id }] });
      await got;
      if (i >= 30) samples.push(performance.now() - t0); // the first ones include the group join
    }
  } finally {
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  return samples;
}

/** One-row commits on a real (logged) table, so each waits for its WAL flush like a saga step. */
export async function postgresFloor(url: string): Promise<{ samples: number[]; autovacuum: string }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const samples: number[] = [];
  const table = `bench_floor_${randomBytes(4).toString('hex')}`;
  try {
    const { rows } = await client.query<{ autovacuum: string }>('SHOW autovacuum');
    await client.query(`CREATE TABLE ${table} (id int)`);
    for (let i = 0; i < 220; i++) {
      const t0 = performance.now();
      await client.query(`INSERT INTO ${table} VALUES ($1)`, [i]);
      if (i >= 20) samples.push(performance.now() - t0);
    }
    return { samples, autovacuum: rows[0]?.autovacuum ?? 'unknown' };
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}
