import { Client } from 'pg';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import type { Admin, IHeaders } from 'kafkajs';
import { DeadLetterHeaders, Headers, isDeadLetterTopic } from '@tcc/contracts';
import type { KafkaSecurityOptions } from '@tcc/kafka';
import type {
  DeadLetter,
  GroupLag,
  Hold,
  IdleGroup,
  Order,
  Product,
  Reservation,
  Snapshot,
  Wallet,
} from './checks';

export interface Sources {
  orderDb: string;
  stockDb: string;
  paymentDb: string;
  brokers: string[] | null;
  prefix: string;
  /** the services' consumer groups, whose lag check 7 looks at */
  groups: string[];
  /** SASL and TLS for the broker (KAFKA_SASL_*, KAFKA_SSL*) */
  kafkaSecurity?: KafkaSecurityOptions;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot read ${redact(url)}: ${(error as Error).message}`);
  }
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Reads the three databases (and the topics, when a broker is given) into one snapshot. */
export async function loadSnapshot(sources: Sources): Promise<Omit<Snapshot, 'accepted'>> {
  const now = new Date();
  const [products, reservations, wallets, holds, orders, lines, steps] = await Promise.all([
    query<Product>(
      sources.stockDb,
      'SELECT id, available, reserved, sold, stocked_total AS "stockedTotal" FROM products',
    ),
    query<Reservation>(
      sources.stockDb,
      'SELECT order_id AS "orderId", product_id AS "productId", quantity, status, expires_at AS "expiresAt" FROM reservations',
    ),
    query<Wallet>(
      sources.paymentDb,
      `SELECT customer_id AS "customerId", balance::float8 AS balance, held::float8 AS held, captured::float8 AS captured,
              topped_up_total::float8 AS "toppedUpTotal" FROM wallets`,
    ),
    query<Hold>(
      sources.paymentDb,
      'SELECT order_id AS "orderId", customer_id AS "customerId", amount::float8 AS amount, status, expires_at AS "expiresAt" FROM holds',
    ),
    query<Omit<Order, 'lines' | 'steps'>>(
      sources.orderDb,
      'SELECT id, customer_id AS "customerId", status, total::float8 AS total, idempotency_key AS "idempotencyKey" FROM orders',
    ),
    query<{ orderId: string; productId: string; quantity: number }>(
      sources.orderDb,
      'SELECT order_id AS "orderId", product_id AS "productId", quantity FROM order_lines ORDER BY order_id, line_no',
    ),
    query<{ orderId: string; state: string }>(
      sources.orderDb,
      `SELECT order_id AS "orderId", state FROM order_timeline
        WHERE participant = 'order' AND state IN ('trying', 'confirming', 'cancelling', 'confirmed', 'cancelled')
        ORDER BY order_id, id`,
    ),
  ]);
  const linesOf = new Map<string, Order['lines']>();
  for (const l of lines)
    linesOf.set(l.orderId, [
      ...(linesOf.get(l.orderId) ?? []),
      { productId: l.productId, quantity: l.quantity },
    ]);
  const stepsOf = new Map<string, string[]>();
  for (const st of steps) stepsOf.set(st.orderId, [...(stepsOf.get(st.orderId) ?? []), st.state]);
  const topics = sources.brokers
    ? await loadTopics(sources.brokers, sources.prefix, sources.groups, sources.kafkaSecurity)
    : { lags: null, idleGroups: null, deadLetters: null };
  return {
    now,
    products,
    reservations,
    wallets,
    holds,
    orders: orders.map((o) => ({ ...o, lines: linesOf.get(o.id) ?? [], steps: stepsOf.get(o.id) ?? [] })),
    ...topics,
  };
}

export async function loadTopics(
  brokers: string[],
  prefix: string,
  groups: string[],
  security: KafkaSecurityOptions = {},
): Promise<{ lags: GroupLag[]; idleGroups: IdleGroup[]; deadLetters: DeadLetter[] }> {
  const kafka = new Kafka({
    clientId: 'tcc-invariants',
    brokers,
    ...security,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 2 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`cannot reach Kafka at ${brokers.join(',')}: ${(error as Error).message}`);
  }
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix) && !t.startsWith('__'));
    const { lags, idleGroups } = await consumerLags(admin, topics, groups);
    const deadLetters = await readDeadLetters(kafka, admin, topics.filter(isDeadLetterTopic));
    return { lags, idleGroups, deadLetters };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Lag of the services' groups on this system's (non dead-letter) topics. Other groups on the same
 * broker (a test's, an operator's ad-hoc reader) are not the system's consumers: an abandoned one
 * stays behind forever and says nothing about the saga. A named group that has committed nothing
 * while the topics hold messages is reported too (idle): a service that never consumed, or a
 * wrong --groups, must not pass as "no lag".
 */
async function consumerLags(
  admin: Admin,
  topics: string[],
  wanted: string[],
): Promise<{ lags: GroupLag[]; idleGroups: IdleGroup[] }> {
  const working = topics.filter((t) => !isDeadLetterTopic(t));
  const ends = new Map<string, Map<number, bigint>>();
  const held = new Map<string, bigint>();
  for (const topic of working) {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends.set(topic, new Map(offsets.map((o) => [o.partition, BigInt(o.high)])));
    held.set(
      topic,
      offsets.reduce((n, o) => n + BigInt(o.high) - BigInt(o.low), 0n),
    );
  }
  const known = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
  // what a running group's members subscribe to; a group without members is held to every topic
  const subscribed = new Map<string, string[]>();
  const present = wanted.filter((g) => known.has(g));
  if (present.length > 0) {
    for (const g of (await admin.describeGroups(present)).groups) {
      const list = g.members.flatMap(
        (m) => AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.topics ?? [],
      );
      if (list.length > 0) subscribed.set(g.groupId, list);
    }
  }
  const lags: GroupLag[] = [];
  const idleGroups: IdleGroup[] = [];
  for (const group of wanted) {
    const messages = (subscribed.get(group) ?? working).reduce((n, t) => n + (held.get(t) ?? 0n), 0n);
    const committed = known.has(group)
      ? (await admin.fetchOffsets({ groupId: group })).filter((c) => ends.has(c.topic))
      : [];
    let any = false;
    for (const t of committed) {
      for (const p of t.partitions) {
        if (p.offset === '-1') continue;
        any = true;
        const high = ends.get(t.topic)?.get(p.partition) ?? 0n;
        lags.push({ group, topic: t.topic, partition: p.partition, lag: Number(high - BigInt(p.offset)) });
      }
    }
    if (!any && messages > 0n) idleGroups.push({ group, messages: Number(messages) });
  }
  return { lags, idleGroups };
}

async function readDeadLetters(kafka: Kafka, admin: Admin, topics: string[]): Promise<DeadLetter[]> {
  const ranges = new Map<string, bigint>();
  for (const topic of topics) {
    for (const o of await admin.fetchTopicOffsets(topic))
      if (BigInt(o.high) > BigInt(o.low)) ranges.set(`${topic}/${o.partition}`, BigInt(o.high));
  }
  if (ranges.size === 0) return [];
  const groupId = `tcc-topics-cli-invariants-${Date.now()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  const letters: DeadLetter[] = [];
  const header = (h: IHeaders | undefined, name: string) => {
    const v = h?.[name];
    const first = Array.isArray(v) ? v[0] : v;
    return first === undefined ? null : first.toString();
  };
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out reading the dead-letter topics')), 60_000);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const key = `${topic}/${partition}`;
            const end = ranges.get(key);
            if (end === undefined || BigInt(message.offset) >= end) return;
            letters.push({
              at: `${key}/${message.offset}`,
              reason: header(message.headers, DeadLetterHeaders.errorMessage),
              correlationId: header(message.headers, Headers.correlationId),
            });
            if (BigInt(message.offset) + 1n >= end) ranges.delete(key);
            if (ranges.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return letters;
}
