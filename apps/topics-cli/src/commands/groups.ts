import { CliError } from '../context';
import type { Context } from '../context';
import { partitionOffsets } from '../kafka/scan';
import { table } from '../output/table';

/** Each consumer group's committed offset and lag per partition. */
export async function groupsCommand(ctx: Context, { group }: { group?: string }): Promise<void> {
  const listed = (await ctx.admin.listGroups()).groups
    .map((g) => g.groupId)
    .filter((g) => !g.startsWith('tcc-topics-cli-'))
    .filter((g) => (group ? g === group : true))
    .sort();
  if (group && listed.length === 0) throw new CliError(`unknown consumer group "${group}"`);
  const described = listed.length > 0 ? (await ctx.admin.describeGroups(listed)).groups : [];
  const result = [];
  for (const groupId of listed) {
    const state = described.find((d) => d.groupId === groupId)?.state ?? 'Unknown';
    const members = described.find((d) => d.groupId === groupId)?.members.length ?? 0;
    const committed = await ctx.admin.fetchOffsets({ groupId });
    const partitions = [];
    for (const t of committed) {
      const ends = await partitionOffsets(ctx.admin, t.topic).catch(() => []);
      for (const p of t.partitions) {
        const end = ends.find((e) => e.partition === p.partition);
        const high = end?.high ?? 0n;
        const low = end?.low ?? 0n;
        const done = p.offset === '-1' ? low : BigInt(p.offset);
        partitions.push({
          topic: t.topic,
          partition: p.partition,
          committed: p.offset === '-1' ? null : p.offset,
          high: high.toString(),
          lag: Number(high - done),
        });
      }
    }
    result.push({
      group: groupId,
      state,
      members,
      lag: partitions.reduce((s, p) => s + p.lag, 0),
      partitions,
    });
  }
  if (ctx.json) return ctx.out(JSON.stringify(result, null, 2));
  const rows = result.flatMap((g) =>
    g.partitions.length === 0
      ? [[g.group, g.state, g.members, null, null, null, null, 0]]
      : g.partitions.map((p) => [
          g.group,
          g.state,
          g.members,
          p.topic,
          p.partition,
          p.committed === null ? null : Number(p.committed),
          Number(p.high),
          p.lag,
        ]),
  );
  ctx.out(table(['GROUP', 'STATE', 'MEMBERS', 'TOPIC', 'PARTITION', 'COMMITTED', 'HIGH', 'LAG'], rows));
}
