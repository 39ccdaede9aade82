import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { Admin, Consumer, EachMessagePayload, IHeaders, Producer, RetryOptions } from 'kafkajs';
import { Headers } from '@tcc/contracts';
import type { KafkaSecurityOptions } from '@tcc/kafka';

export interface RawMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : first.toString();
}

function textHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers ?? {})) out[name] = headerText(headers, name) ?? '';
  return out;
}

/** A consumed message as the chaos run keeps it. */
function rawMessage({ topic, partition, message }: EachMessagePayload): RawMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString() ?? null,
    value: message.value,
    headers: textHeaders(message.headers),
  };
}

/**
 * The chaos run's own Kafka client: publishes bad inputs, cancels-before-try and duplicates
 * (retrying while the broker restarts), reads topics to check what happened, measures lag.
 */
export class ChaosKafka {
  readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readers = 0;

  /**
   * `brokers`: host:port, comma-separated for a cluster; `security`: the credentials for the
   * run's own broker (the admin's, when it is secured); `retry`: how each request is tried again
   * while a broker is away
   */
  constructor(
    brokers: string,
    security: KafkaSecurityOptions = {},
    retry: RetryOptions = { retries: 8, maxRetryTime: 5_000 },
  ) {
    this.kafka = new Kafka({
      clientId: 'tcc-chaos',
      brokers: brokers.split(','),
      ...security,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      retry,
    });
    this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    this.admin = this.kafka.admin();
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    await this.admin.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  /** Writes one message (acks=all), trying again while the broker is away. */
  async publish(
    topic: string,
    key: string,
    value: Buffer | string,
    headers?: IHeaders,
    giveUpMs = 120_000,
  ): Promise<void> {
    const deadline = Date.now() + giveUpMs;
    for (;;) {
      try {
        await this.producer.send({ topic, acks: -1, messages: [{ key, value, headers }] });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`cannot publish to ${topic}: ${(error as Error).message}`);
        await sleep(500);
      }
    }
  }

  /** `fn` with the admin client, tried again every 500 ms while it fails (the broker is away) */
  async withAdmin<T>(fn: (admin: Admin) => Promise<T>, giveUpMs = 60_000): Promise<T> {
    const deadline = Date.now() + giveUpMs;
    for (;;) {
      try {
        return await fn(this.admin);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(500);
      }
    }
  }

  /** How far each group is behind on its topics, summed over partitions. */
  async lag(groups: Record<string, string>): Promise<Record<string, number>> {
    return this.withAdmin(async (admin) => {
      const lag: Record<string, number> = {};
      for (const [group, topic] of Object.entries(groups)) {
        const ends = new Map(
          (await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]),
        );
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        let behind = 0n;
        for (const [partition, high] of ends) {
          const p = committed?.partitions.find((c) => c.partition === partition);
          const done = !p || p.offset === '-1' ? 0n : BigInt(p.offset);
          behind += high - done;
        }
        lag[group] = Number(behind);
      }
      return lag;
    });
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.withAdmin((admin) => admin.deleteGroups([groupId]), 30_000);
  }

  /** Every message now on the topics (from the start up to the current end), with text headers. */
  async readAll(topics: string[], timeoutMs = 90_000): Promise<RawMessage[]> {
    const ends = new Map<string, bigint>();
    await this.withAdmin(async (admin) => {
      for (const topic of topics)
        for (const o of await admin.fetchTopicOffsets(topic))
          if (BigInt(o.high) > BigInt(o.low)) ends.set(`${topic}/${o.partition}`, BigInt(o.high));
    });
    if (ends.size === 0) return [];
    // tcc-topics-cli-*: a tool's reader, which the invariant checker leaves out of consumer lag
    const groupId = `tcc-topics-cli-chaos-reader-${process.pid}-${++this.readers}`;
    const consumer: Consumer = this.kafka.consumer({
      groupId,
      maxWaitTimeInMs: 200,
      maxBytes: 20 * 1024 * 1024,
    });
    const messages: RawMessage[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`timed out reading ${topics.join(', ')}: ${[...ends.keys()].join(', ')} unread`),
            ),
          timeoutMs,
        );
        consumer
          .run({
            autoCommit: false,
            eachMessage: async (payload) => {
              const { topic, partition, message } = payload;
              const at = `${topic}/${partition}`;
              const end = ends.get(at);
              if (end === undefined || BigInt(message.offset) >= end) return;
              messages.push(rawMessage(payload));
              if (BigInt(message.offset) + 1n >= end) ends.delete(at);
              if (ends.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await this.deleteGroup(groupId).catch(() => undefined);
    }
    return messages;
  }
}

export interface DuplicatorStats {
  /** orders chosen for duplicates that had commands */
  orders: number;
  /** commands published a second time */
  published: number;
}

/**
 * Re-publishes the commands of chosen orders: the same bytes, key and headers, copied from the
 * command topics, after a delay chosen per order (so a duplicate try may come after the order's
 * confirm or cancel). A duplicate is never duplicated again (one copy per message id). Commands
 * of an order seen before its POST was answered wait until the order is known.
 */
export class Duplicator {
  /** a tool's group (tcc-topics-cli-*), left out of the checker's consumer lag; deleted at the end */
  static readonly GROUP = 'tcc-topics-cli-chaos-duplicator';
  readonly stats: DuplicatorStats = { orders: 0, published: 0 };
  private consumer: Consumer | undefined;
  private readonly seen = new Set<string>();
  private readonly chosen = new Map<string, number>();
  private readonly unknown = new Map<string, { at: number; messages: RawMessage[] }>();
  private readonly withCommands = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private readonly decided = new Set<string>();

  constructor(
    private readonly kafka: ChaosKafka,
    private readonly topics: string[],
  ) {}

  async start(): Promise<void> {
    this.consumer = this.kafka.kafka.consumer({
      groupId: Duplicator.GROUP,
      maxWaitTimeInMs: 200,
      sessionTimeout: 10_000,
      retry: { retries: 20 },
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async (payload) => {
        const { message } = payload;
        const messageId = headerText(message.headers, Headers.messageId);
        const orderId = headerText(message.headers, Headers.correlationId);
        if (!messageId || !orderId || this.seen.has(messageId)) return;
        this.seen.add(messageId);
        const raw = rawMessage(payload);
        const delay = this.chosen.get(orderId);
        if (delay !== undefined) this.later(orderId, raw, delay);
        else if (!this.decided.has(orderId)) {
          const waiting = this.unknown.get(orderId) ?? { at: Date.now(), messages: [] };
          waiting.messages.push(raw);
          this.unknown.set(orderId, waiting);
        }
      },
    });
  }

  /** The order's POST was answered: duplicate its commands or not. */
  decide(orderId: string, duplicate: boolean, delayMs: number): void {
    this.decided.add(orderId);
    if (duplicate) this.chosen.set(orderId, delayMs);
    const waiting = this.unknown.get(orderId);
    this.unknown.delete(orderId);
    if (duplicate) for (const m of waiting?.messages ?? []) this.later(orderId, m, delayMs);
    // commands of orders nobody claims (the made-up cancel-before-try orders) are forgotten
    for (const [id, w] of this.unknown) if (Date.now() - w.at > 120_000) this.unknown.delete(id);
  }

  private later(orderId: string, m: RawMessage, delayMs: number): void {
    if (!this.withCommands.has(orderId)) {
      this.withCommands.add(orderId);
      this.stats.orders++;
    }
    const work = (async () => {
      await sleep(delayMs);
      await this.kafka.publish(m.topic, m.key ?? '', m.value ?? Buffer.alloc(0), m.headers);
      this.stats.published++;
    })();
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Stops reading; the duplicates already scheduled are still published. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await Promise.allSettled([...this.pending]);
    await this.kafka.deleteGroup(Duplicator.GROUP).catch(() => undefined);
  }
}
