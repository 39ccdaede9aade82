import { CliError } from '../context';
import type { Context } from '../context';
import type { DecodedMessage } from '../kafka/decode';
import { partitionOffsets, scan } from '../kafka/scan';
import type { PartitionRange } from '../kafka/scan';
import { formatMessage, messageJson } from '../output/message';
import { Progress } from '../output/progress';

export interface TailOptions {
  topic: string;
  /** peek: the first messages; tail: the last ones */
  mode: 'peek' | 'tail';
  /** an explicit start offset (every partition, or --partition) */
  fromOffset: bigint | null;
  partition: number | null;
  limit: number;
  follow: boolean;
  key?: string | undefined;
  type?: string | undefined;
  correlationId?: string | undefined;
}

export async function tailCommand(ctx: Context, options: TailOptions): Promise<void> {
  const topic = await ctx.resolveTopic(options.topic);
  const offsets = await partitionOffsets(ctx.admin, topic);
  if (options.partition !== null && !offsets.some((o) => o.partition === options.partition)) {
    throw new CliError(`${topic} has no partition ${options.partition} (it has ${offsets.length})`, 2);
  }
  const filtered = Boolean(options.key ?? options.type ?? options.correlationId);
  const matches = (m: DecodedMessage) =>
    (options.key === undefined || m.key === options.key) &&
    (options.type === undefined || m.type === options.type) &&
    (options.correlationId === undefined || m.correlationId === options.correlationId);
  const limit = BigInt(options.limit);
  const ranges: PartitionRange[] = offsets
    .filter((o) => options.partition === null || o.partition === options.partition)
    .map((o) => {
      let from: bigint;
      if (options.fromOffset !== null) from = options.fromOffset < o.low ? o.low : options.fromOffset;
      else if (filtered) from = o.low;
      else if (options.mode === 'peek') from = o.low;
      else from = o.high - limit > o.low ? o.high - limit : o.low;
      const to =
        filtered || options.fromOffset !== null
          ? o.high
          : options.mode === 'peek'
            ? minBig(o.high, from + limit)
            : o.high;
      return { topic, partition: o.partition, from, to };
    });

  const print = (m: DecodedMessage) => ctx.out(ctx.json ? messageJson(m) : `${formatMessage(m)}\n`);
  const collected: DecodedMessage[] = [];
  const progress = new Progress(`reading ${topic}`);
  await scan(ctx.kafka, ctx.admin, ranges, {
    onMessage: (m) => void (matches(m) && collected.push(m)),
    onProgress: (done, total) => progress.update(done, total),
  });
  progress.done();
  collected.sort(
    (a, b) =>
      a.time.localeCompare(b.time) ||
      a.partition - b.partition ||
      Number(BigInt(a.offset) - BigInt(b.offset)),
  );
  const shown =
    options.mode === 'peek' && options.fromOffset === null
      ? collected.slice(0, options.limit)
      : collected.slice(-options.limit);
  shown.forEach(print);
  if (!ctx.json && !options.follow) ctx.out(`${shown.length} message(s) of ${topic}`);

  if (options.follow) {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    const ends = await partitionOffsets(ctx.admin, topic);
    const live = ranges.map((r) => ({
      ...r,
      from: ends.find((e) => e.partition === r.partition)?.high ?? r.to ?? 0n,
      to: null,
    }));
    await scan(ctx.kafka, ctx.admin, live, {
      onMessage: (m) => void (matches(m) && print(m)),
      signal: controller.signal,
    });
  }
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
