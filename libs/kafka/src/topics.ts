import type { Admin } from 'kafkajs';

export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
}

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
  /** topics that exist with fewer partitions than configured; left alone, since adding partitions moves keys */
  underPartitioned: { topic: string; partitions: number }[];
}

/**
 * Creates the project's topics that do not exist yet, with the configured partition count.
 * The broker's auto-creation is off: a topic must exist, with its partitions, before anything
 * produces to it or consumes from it, or keys would hash over the wrong partition count.
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
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: settings.partitions,
        replicationFactor: settings.replicationFactor,
      })),
    });
  }
  const present = topics.filter((t) => existingNames.has(t));
  const underPartitioned: EnsureTopicsResult['underPartitioned'] = [];
  if (present.length > 0) {
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics: present });
    for (const t of metadata) {
      if (t.partitions.length < settings.partitions) {
        underPartitioned.push({ topic: t.name, partitions: t.partitions.length });
      }
    }
  }
  return { created: missing, existing: present, underPartitioned };
}
