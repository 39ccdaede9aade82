import type { Context } from '../context';
import { partitionOffsets } from '../kafka/scan';
import { table } from '../output/table';

/** Every topic (of this prefix, or --all) with its partitions, low and high offsets, and message counts. */
export async function topicsCommand(ctx: Context, { all }: { all: boolean }): Promise<void> {
  const names = (await ctx.topicNames()).filter((t) => all || t.startsWith(ctx.prefix));
  const topics = [];
  for (const topic of names) {
    const partitions = (await partitionOffsets(ctx.admin, topic)).map((p) => ({
      partition: p.partition,
      low: p.low.toString(),
      high: p.high.toString(),
      messages: Number(p.high - p.low),
    }));
    topics.push({ topic, messages: partitions.reduce((s, p) => s + p.messages, 0), partitions });
  }
  if (ctx.json) return ctx.out(JSON.stringify(topics, null, 2));
  const rows = topics.flatMap((t) =>
    t.partitions.map((p) => [t.topic, p.partition, Number(p.low), Number(p.high), p.messages]),
  );
  ctx.out(table(['TOPIC', 'PARTITION', 'LOW', 'HIGH', 'MESSAGES'], rows));
  ctx.out(`\n${topics.length} topic(s), ${topics.reduce((s, t) => s + t.messages, 0)} message(s)`);
}
