import { createInterface } from 'node:readline/promises';
import type { IHeaders } from 'kafkajs';
import { DeadLetterHeaders, isDeadLetterTopic } from '@tcc/contracts';
import { CliError } from '../context';
import type { Context } from '../context';
import type { DecodedMessage } from '../kafka/decode';
import { partitionOffsets, scan } from '../kafka/scan';
import type { PartitionRange } from '../kafka/scan';
import { Progress } from '../output/progress';
import { clip, table } from '../output/table';

/** Header a replayed message carries: where in the dead-letter topic it was replayed from. */
export const REPLAYED_FROM_HEADER = 'x-replayed-from';
export const REPLAYED_AT_HEADER = 'x-replayed-at';

export interface DeadLetterFilter {
  topic?: string | undefined;
  /** `12`, `10-20` or `10-` (offsets in the dead-letter topic) */
  offsets?: string | undefined;
  partition?: number | undefined;
  key?: string | undefined;
  /** error class, e.g. PoisonMessageError */
  error?: string | undefined;
}

interface DeadLetter {
  message: DecodedMessage;
  raw: { key: Buffer | null; value: Buffer | null; headers: IHeaders };
}

export async function listDeadLetters(ctx: Context, filter: DeadLetterFilter): Promise<void> {
  const letters = await findDeadLetters(ctx, filter);
  if (ctx.json)
    return ctx.out(
      JSON.stringify(
        letters.map((l) => summary(l.message)),
        null,
        2,
      ),
    );
  ctx.out(
    table(
      ['DEAD-LETTER TOPIC', 'AT', 'KEY', 'FROM', 'ERROR', 'REASON', 'ATTEMPTS', 'WHEN'],
      letters.map(({ message: m }) => {
        const s = summary(m);
        return [
          m.topic,
          `p${m.partition}#${m.offset}`,
          clip(m.key, 24),
          s.from,
          s.errorClass,
          clip(s.reason, 50),
          s.attempts,
          s.deadLetteredAt,
        ];
      }),
    ),
  );
  ctx.out(`\n${letters.length} dead letter(s)`);
}

export async function replayDeadLetters(
  ctx: Context,
  filter: DeadLetterFilter,
  { yes, dryRun }: { yes: boolean; dryRun: boolean },
) {
  const letters = await findDeadLetters(ctx, filter);
  if (letters.length === 0) {
    if (ctx.json) ctx.out(JSON.stringify({ replayed: [] }));
    else ctx.out('no dead letter matches; nothing replayed');
    return;
  }
  const plan = letters.map((l) => ({ ...summary(l.message), letter: l }));
  if (!ctx.json || dryRun) {
    const print = ctx.json ? () => undefined : ctx.out;
    print(
      table(
        ['FROM DEAD LETTER', 'KEY', 'BACK TO', 'ERROR'],
        plan.map((p) => [p.at, clip(p.key, 24), p.originalTopic, p.errorClass]),
      ),
    );
  }
  if (dryRun) {
    if (ctx.json) ctx.out(JSON.stringify({ wouldReplay: plan.map(({ letter: _l, ...p }) => p) }, null, 2));
    else ctx.out(`\n--dry-run: would replay ${plan.length} message(s)`);
    return;
  }
  if (!yes) {
    if (!process.stdin.isTTY)
      throw new CliError(
        `replaying ${plan.length} message(s) needs confirmation: run in a terminal or add --yes`,
        2,
      );
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(`Replay ${plan.length} message(s) to their original topics? [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) return ctx.out('nothing replayed');
  }
  const producer = ctx.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const replayedAt = new Date().toISOString();
  try {
    for (const p of plan) {
      if (!p.originalTopic)
        throw new CliError(`${p.at} has no ${DeadLetterHeaders.originalTopic} header; not replayed`);
      const headers: IHeaders = {};
      for (const [k, v] of Object.entries(p.letter.raw.headers))
        if (!k.startsWith('x-dlt-') && v !== undefined) headers[k] = v;
      headers[REPLAYED_FROM_HEADER] = p.at;
      headers[REPLAYED_AT_HEADER] = replayedAt;
      await producer.send({
        topic: p.originalTopic,
        acks: -1,
        messages: [{ key: p.letter.raw.key, value: p.letter.raw.value, headers }],
      });
    }
  } finally {
    await producer.disconnect();
  }
  const report = plan.map(({ letter: _l, ...p }) => p);
  if (ctx.json) ctx.out(JSON.stringify({ replayed: report }, null, 2));
  else
    ctx.out(
      `\nreplayed ${report.length} message(s), same key and message id; consumers de-duplicate, so replaying twice is safe`,
    );
}

async function findDeadLetters(ctx: Context, filter: DeadLetterFilter): Promise<DeadLetter[]> {
  const topics = filter.topic
    ? [await ctx.resolveTopic(filter.topic)]
    : (await ctx.topicNames()).filter((t) => t.startsWith(ctx.prefix) && isDeadLetterTopic(t));
  for (const t of topics)
    if (!isDeadLetterTopic(t)) throw new CliError(`${t} is not a dead-letter topic (they end in .dlt)`, 2);
  const [lo, hi] = parseOffsets(filter.offsets);
  const ranges: PartitionRange[] = [];
  for (const topic of topics) {
    for (const o of await partitionOffsets(ctx.admin, topic)) {
      if (filter.partition !== undefined && o.partition !== filter.partition) continue;
      const from = lo !== null && lo > o.low ? lo : o.low;
      const to = hi !== null && hi + 1n < o.high ? hi + 1n : o.high;
      ranges.push({ topic, partition: o.partition, from, to });
    }
  }
  const letters: DeadLetter[] = [];
  const progress = new Progress('reading dead letters');
  await scan(ctx.kafka, ctx.admin, ranges, {
    onMessage: (m, raw) => {
      if (filter.key !== undefined && m.key !== filter.key) return;
      if (filter.error !== undefined && m.headers[DeadLetterHeaders.errorClass] !== filter.error) return;
      if (raw) letters.push({ message: m, raw });
    },
    onProgress: (done, total) => progress.update(done, total),
  });
  progress.done();
  return letters.sort(
    (a, b) =>
      a.message.topic.localeCompare(b.message.topic) ||
      a.message.partition - b.message.partition ||
      Number(BigInt(a.message.offset) - BigInt(b.message.offset)),
  );
}

function parseOffsets(spec: string | undefined): [bigint | null, bigint | null] {
  if (spec === undefined) return [null, null];
  const m = /^(\d+)(?:(-)(\d*))?$/.exec(spec.trim());
  if (!m) throw new CliError(`--offsets takes N, N-M or N- (got "${spec}")`, 2);
  const from = BigInt(m[1] ?? '0');
  if (!m[2]) return [from, from];
  const to = m[3] ? BigInt(m[3]) : null;
  if (to !== null && to < from) throw new CliError(`--offsets ${spec}: the end comes before the start`, 2);
  return [from, to];
}

function summary(m: DecodedMessage) {
  const h = m.headers;
  return {
    at: `${m.topic}/${m.partition}/${m.offset}`,
    key: m.key,
    type: m.type,
    messageId: m.messageId,
    correlationId: m.correlationId,
    originalTopic: h[DeadLetterHeaders.originalTopic] ?? null,
    from: `${h[DeadLetterHeaders.originalTopic] ?? '?'}/${h[DeadLetterHeaders.originalPartition] ?? '?'}/${h[DeadLetterHeaders.originalOffset] ?? '?'}`,
    errorClass: h[DeadLetterHeaders.errorClass] ?? null,
    reason: h[DeadLetterHeaders.errorMessage] ?? null,
    attempts: h[DeadLetterHeaders.attempts] ? Number(h[DeadLetterHeaders.attempts]) : null,
    consumerGroup: h[DeadLetterHeaders.consumerGroup] ?? null,
    deadLetteredAt: h[DeadLetterHeaders.deadLetteredAt] ?? null,
    replayedFrom: h[REPLAYED_FROM_HEADER] ?? null,
  };
}
