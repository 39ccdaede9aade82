import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { CONSUMED_TOPICS } from '../bad-inputs';
import type { ChaosKafka } from '../kafka';

/** One partition of a consumed topic, with the consumer group that handles it. */
export interface WatchedPartition {
  group: string;
  topic: string;
  partition: number;
}

export interface PartitionTakeover extends WatchedPartition {
  /** ms from the fault to the first offset committed past the one committed at the fault; undefined: none within the limit */
  ms: number | undefined;
}

const label = (p: WatchedPartition) => `${p.topic}/${p.partition}`;

/**
 * The partitions the group's member with this client id is assigned (KAFKA_CLIENT_ID is set per
 * instance, so the group's member list says which instance holds what).
 */
export async function partitionsOfMember(
  kafka: ChaosKafka,
  group: string,
  clientId: string,
): Promise<WatchedPartition[]> {
  return kafka.withAdmin(async (admin) => {
    const { groups } = await admin.describeGroups([group]);
    const owned: WatchedPartition[] = [];
    for (const member of groups[0]?.members ?? []) {
      if (member.clientId !== clientId) continue;
      const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
      for (const [topic, partitions] of Object.entries(decoded?.assignment ?? {}))
        for (const partition of partitions) owned.push({ group, topic, partition });
    }
    return owned;
  });
}

/** Which broker leads each partition of the consumed topics. */
export async function leaders(kafka: ChaosKafka): Promise<Map<number, WatchedPartition[]>> {
  return kafka.withAdmin(async (admin) => {
    const { topics } = await admin.fetchTopicMetadata({ topics: Object.keys(CONSUMED_TOPICS) });
    const byBroker = new Map<number, WatchedPartition[]>();
    for (const t of topics) {
      const group = CONSUMED_TOPICS[t.name];
      if (!group) continue;
      for (const p of t.partitions) {
        const led = byBroker.get(p.leader) ?? [];
        led.push({ group, topic: t.name, partition: p.partitionId });
        byBroker.set(p.leader, led);
      }
    }
    return byBroker;
  });
}

/** Kafka's own topic of group offsets and memberships; a group's coordinator leads one of its partitions. */
const GROUP_OFFSETS_TOPIC = '__consumer_offsets';

/** Java's String.hashCode, which Kafka uses to place a group on a partition of its offsets topic. */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** The partition of the offsets topic that holds the group, as Kafka computes it (Utils.abs(hash) % count). */
export function groupOffsetsPartition(group: string, partitions: number): number {
  const h = javaStringHash(group);
  return (h === -0x80000000 ? 0 : Math.abs(h)) % partitions;
}

/** Which broker coordinates each consumer group of the saga: the leader of the group's offsets partition. */
export async function coordinators(kafka: ChaosKafka): Promise<Map<string, number>> {
  return kafka.withAdmin(async (admin) => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [GROUP_OFFSETS_TOPIC] });
    const partitions = topics[0]?.partitions ?? [];
    const byGroup = new Map<string, number>();
    for (const group of new Set(Object.values(CONSUMED_TOPICS))) {
      const p = partitions.find((q) => q.partitionId === groupOffsetsPartition(group, partitions.length));
      if (p) byGroup.set(group, p.leader);
    }
    return byGroup;
  });
}

async function committed(
  admin: Admin,
  partitions: readonly WatchedPartition[],
): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  const pairs = new Set(partitions.map((p) => `${p.group}\u0000${p.topic}`));
  for (const pair of pairs) {
    const [group, topic] = pair.split('\u0000') as [string, string];
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    for (const p of offsets?.partitions ?? []) out.set(`${topic}/${p.partition}`, BigInt(p.offset));
  }
  return out;
}

/** The log end offset of each partition: the offset the next message written to it gets. */
async function ends(admin: Admin, partitions: readonly WatchedPartition[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const topic of new Set(partitions.map((p) => p.topic)))
    for (const o of await admin.fetchTopicOffsets(topic)) out.set(`${topic}/${o.partition}`, BigInt(o.high));
  return out;
}

/** Per partition, the later of the two offsets (the first where the other has none). */
export function laterOf(
  a: ReadonlyMap<string, bigint>,
  b: ReadonlyMap<string, bigint> | undefined,
): Map<string, bigint> {
  const out = new Map(a);
  for (const [key, offset] of b ?? []) {
    const mine = out.get(key);
    if (mine === undefined || offset > mine) out.set(key, offset);
  }
  return out;
}

/**
 * Watches partitions from a fault on: the takeover time of each is the time from the fault until
 * the group has handled a message written after it, i.e. until its committed offset passes the
 * partition's end at the fault (offsets are committed within CONSUMER_COMMIT_INTERVAL_MS of
 * handling). Such a message needs a live leader (a broker fault) and a live member holding the
 * partition (an instance fault), so this is when the partition works again, end to end. Call
 * `begin` just before the fault, `killed` once it landed, then `until` to poll (every 100 ms)
 * until every partition got there or the limit passed. The load keeps writing to every partition.
 */
export class TakeoverWatch {
  private endsAtFault = new Map<string, bigint>();
  private faultAt = 0;

  constructor(
    private readonly kafka: ChaosKafka,
    readonly partitions: readonly WatchedPartition[],
  ) {}

  async begin(): Promise<void> {
    this.endsAtFault = await this.kafka.withAdmin((admin) => ends(admin, this.partitions));
    this.faultAt = Date.now();
  }

  /**
   * Call once the victim is gone. Between begin() and the kill landing, the victim (or, for a
   * broker, a consumer it did not stop yet) may still handle messages: what was committed by now
   * was handled before the fault, so only a commit past it counts. Where the committed offsets
   * cannot be read now (the killed broker coordinated the group), begin()'s ends stay.
   */
  async killed(): Promise<void> {
    const now = await this.kafka
      .withAdmin((admin) => committed(admin, this.partitions), 1_000)
      .catch(() => undefined);
    this.endsAtFault = laterOf(this.endsAtFault, now);
  }

  async until(limitMs: number): Promise<PartitionTakeover[]> {
    const moved = new Map<string, number>();
    const deadline = this.faultAt + limitMs;
    while (moved.size < this.partitions.length && Date.now() < deadline) {
      // while a broker is away the admin's requests fail for a moment: the next poll tries again
      const now = await this.kafka
        .withAdmin((admin) => committed(admin, this.partitions), 1_000)
        .catch(() => undefined);
      const at = Date.now();
      for (const p of this.partitions) {
        const key = label(p);
        const offset = now?.get(key);
        const end = this.endsAtFault.get(key);
        if (moved.has(key) || offset === undefined || end === undefined) continue;
        if (offset > end) moved.set(key, at - this.faultAt);
      }
      await sleep(100);
    }
    return this.partitions.map((p) => ({ ...p, ms: moved.get(label(p)) }));
  }
}
