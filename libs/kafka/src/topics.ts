import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Consumer, ITopicMetadata } from 'kafkajs';

export interface TopicSettings {
  partitions: number;
  /** copies of each partition; unset: the brokers' default.replication.factor */
  replicationFactor?: number;
  /** the topic's min.insync.replicas; unset: the brokers' default */
  minInsyncReplicas?: number;
}

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
  /** topics that exist with fewer partitions than configured; left alone, since adding partitions moves keys */
  underPartitioned: { topic: string; partitions: number }[];
  /** copies of each partition of the topics created (or, when none was, of the first one found) */
  replicas: number | undefined;
}

/**
 * Creates the project's topics that do not exist yet, with the configured partition count.
 * The broker's auto-creation is off: a topic must exist, with its partitions, before anything
 * produces to it or consumes from it, or keys would hash over the wrong partition count.
 * Replication follows the cluster unless configured: -1 asks the broker for its
 * default.replication.factor, and a topic without min.insync.replicas takes the broker's, so a
 * three-broker cluster set up for it (RF 3, min.insync.replicas 2) needs nothing per service.
 */
export async function ensureTopics(
  admin: Admin,
  topics: readonly string[],
  settings: TopicSettings,
): Promise<EnsureTopicsResult> {
  const existingNames = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existingNames.has(t));
  if (missing.length > 0) {
    // createTopics resolves false when another process created them in between: fine.
    await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: settings.partitions,
        replicationFactor: settings.replicationFactor ?? -1,
        configEntries:
          settings.minInsyncReplicas === undefined
            ? []
            : [{ name: 'min.insync.replicas', value: String(settings.minInsyncReplicas) }],
      })),
    });
  }
  // every topic's metadata, once each has its leaders: the ones just created (by this process or
  // another starting beside it) may be unknown to a broker for a moment
  const metadata = await waitForLeaders(admin, topics);
  const present = topics.filter((t) => existingNames.has(t));
  const underPartitioned: EnsureTopicsResult['underPartitioned'] = [];
  for (const t of metadata) {
    if (present.includes(t.name) && t.partitions.length < settings.partitions) {
      underPartitioned.push({ topic: t.name, partitions: t.partitions.length });
    }
  }
  const sample = metadata.find((t) => t.name === (missing[0] ?? present[0]));
  return {
    created: missing,
    existing: present,
    underPartitioned,
    replicas: sample?.partitions[0]?.replicas.length,
  };
}

/** Errors a broker answers for a topic it has just created, until its metadata has caught up. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Runs `attempt` until it returns a value, again every 100 ms while a broker answers that it does
 * not know the topics yet (NOT_YET) or `attempt` returns undefined; any other error, or the
 * deadline, ends it. Each broker of a cluster learns of a new topic when it has replayed the
 * metadata that created it, a moment after the one that answered CreateTopics.
 */
async function whileUnknown<T>(
  attempt: () => Promise<T | undefined>,
  topics: readonly string[],
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const result = await attempt();
      if (result !== undefined) return result;
    } catch (error) {
      if (!NOT_YET.has((error as { type?: string }).type ?? '') || Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`no leaders for ${topics.join(', ')} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Waits until every partition of the topics has a leader. A KRaft broker answers a metadata request
 * right after CreateTopics as if the topic did not exist, for a moment (kafkajs' own wait gives up
 * at once then: a service starting beside another failed on it, seen on a secured broker).
 */
function waitForLeaders(
  admin: Admin,
  topics: readonly string[],
  timeoutMs = 30_000,
): Promise<ITopicMetadata[]> {
  return whileUnknown(
    async () => {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
      return metadata.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
        ? metadata
        : undefined;
    },
    topics,
    timeoutMs,
  );
}

/**
 * consumer.subscribe, again while the broker it asks does not know a topic yet. ensureTopics saw
 * the topics on one broker; the consumer asks any of them, and kafkajs' subscribe gives up at once
 * on UNKNOWN_TOPIC_OR_PARTITION (seen on a three-broker cluster: 7 of 15 subscriptions right after
 * creating the topic).
 */
export async function subscribeWhenKnown(
  consumer: Pick<Consumer, 'subscribe'>,
  topics: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  await whileUnknown(
    async () => {
      await consumer.subscribe({ topics: [...topics], fromBeginning: true });
      return true;
    },
    topics,
    timeoutMs,
  );
}
