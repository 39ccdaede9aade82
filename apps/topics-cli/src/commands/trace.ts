import { allTopics, DeadLetterHeaders } from '@tcc/contracts';
import type { Context } from '../context';
import type { DecodedMessage } from '../kafka/decode';
import { partitionOffsets, scan } from '../kafka/scan';
import type { PartitionRange } from '../kafka/scan';
import { Progress } from '../output/progress';
import { clip, table } from '../output/table';

/** Every message of one order across all the saga's topics (dead letters included), in time order. */
export async function traceCommand(ctx: Context, orderId: string): Promise<void> {
  const existing = await ctx.topicNames();
  const topics = allTopics.map((t) => `${ctx.prefix}${t}`).filter((t) => existing.includes(t));
  const ranges: PartitionRange[] = [];
  for (const topic of topics) {
    for (const o of await partitionOffsets(ctx.admin, topic))
      ranges.push({ topic, partition: o.partition, from: o.low, to: o.high });
  }
  const found: DecodedMessage[] = [];
  const progress = new Progress(`searching ${topics.length} topics for ${orderId}`);
  await scan(ctx.kafka, ctx.admin, ranges, {
    onMessage: (m) => void (belongsTo(m, orderId) && found.push(m)),
    onProgress: (done, total) => progress.update(done, total),
  });
  progress.done();
  found.sort(
    (a, b) =>
      a.time.localeCompare(b.time) ||
      a.topic.localeCompare(b.topic) ||
      Number(BigInt(a.offset) - BigInt(b.offset)),
  );
  if (ctx.json) return ctx.out(JSON.stringify(found, null, 2));
  if (found.length === 0) return ctx.out(`no message of order ${orderId} on ${topics.join(', ')}`);
  const start = Date.parse(found[0]?.time ?? '');
  ctx.out(`order ${orderId}: ${found.length} message(s)\n`);
  ctx.out(
    table(
      ['TIME', '+MS', 'TOPIC', 'AT', 'TYPE', 'DETAIL'],
      found.map((m) => [
        m.time.slice(11, 23),
        Date.parse(m.time) - start,
        m.topic.slice(ctx.prefix.length),
        `p${m.partition}#${m.offset}`,
        m.type,
        detail(m),
      ]),
    ),
  );
}

function belongsTo(m: DecodedMessage, orderId: string): boolean {
  if (m.correlationId === orderId) return true;
  const payload = m.payload as { orderId?: unknown } | null;
  return payload?.orderId === orderId || (m.problem !== null && (m.value ?? '').includes(orderId));
}

/** The few payload fields that tell what happened. */
function detail(m: DecodedMessage): string {
  const dead = m.headers[DeadLetterHeaders.errorClass];
  if (dead) return clip(`DEAD LETTER ${dead}: ${m.headers[DeadLetterHeaders.errorMessage] ?? ''}`, 80);
  const p = (m.payload ?? {}) as Record<string, unknown>;
  const fields = ['productId', 'customerId', 'quantity', 'unitPrice', 'amount', 'reason', 'released']
    .filter((f) => p[f] !== undefined)
    .map((f) => `${f}=${String(p[f])}`);
  return clip(fields.join(' ') || (m.problem ?? ''), 80);
}
