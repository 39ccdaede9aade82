import { parseArgs } from 'node:util';
import { ConfigError } from '@tcc/config';
import { kafkaSecurityFromEnv } from '@tcc/kafka';
import type { KafkaSecurityOptions } from '@tcc/kafka';
import { groupsCommand } from './commands/groups';
import { listDeadLetters, replayDeadLetters } from './commands/dead-letters';
import { tailCommand } from './commands/tail';
import { topicsCommand } from './commands/topics';
import { traceCommand } from './commands/trace';
import { CliError, connect } from './context';
import type { Context } from './context';

export const USAGE = `Usage: ./dev topics <command> [options]

Commands:
  list                      every topic: partitions, low and high offsets, message counts
  groups                    consumer groups: committed offset and lag per partition
  peek <topic>              the first messages of a topic, decoded through libs/contracts
  tail <topic>              the last messages of a topic (-f: keep printing new ones)
  trace <orderId>           every message of one order across all topics, in time order
  dead-letters [list]       dead letters with their reason and original coordinates
  dead-letters replay       send chosen dead letters back to their original topic

Options:
  --brokers host:port,...   the broker (default: KAFKA_BROKERS, else 127.0.0.1:9092)
  --prefix P                the system's topic prefix (default: KAFKA_TOPIC_PREFIX)
  --json                    JSON instead of tables (one object per line for peek/tail)
  --all                     (list) topics of every prefix
  --group G                 (groups) only this group
  -n, --limit N             (peek/tail) how many messages; default 20
  --from-offset N           (peek/tail) start at offset N of each partition
  --partition N             (peek/tail/dead-letters) only this partition
  --key K, --type T, --correlation-id C
                            (peek/tail) only matching messages; --key also for dead-letters
  -f, --follow              (tail) keep printing new messages until Ctrl-C
  --topic T                 (dead-letters) one dead-letter topic (default: all of the prefix)
  --offsets N | N-M | N-    (dead-letters) offsets in the dead-letter topic
  --error CLASS             (dead-letters) by error class, e.g. PoisonMessageError
  --yes                     (replay) do not ask for confirmation
  --dry-run                 (replay) only show what would be sent
  -h, --help                this text

A secured broker: KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and
KAFKA_SASL_PASSWORD, as the services read them (e.g. export $(./dev kafka secure-env admin)).

Exit codes: 0 done, 1 failed (broker unreachable, unknown topic...), 2 bad arguments.`;

/** The client's SASL and TLS settings from the environment; bad ones are bad arguments. */
function securityFrom(env: NodeJS.ProcessEnv): KafkaSecurityOptions {
  try {
    return kafkaSecurityFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

const options = {
  brokers: { type: 'string' },
  prefix: { type: 'string' },
  json: { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
  group: { type: 'string' },
  limit: { type: 'string', short: 'n' },
  'from-offset': { type: 'string' },
  partition: { type: 'string' },
  key: { type: 'string' },
  type: { type: 'string' },
  'correlation-id': { type: 'string' },
  follow: { type: 'boolean', short: 'f', default: false },
  topic: { type: 'string' },
  offsets: { type: 'string' },
  error: { type: 'string' },
  yes: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function integer(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new CliError(`--${name} takes a whole number of at least ${min} (got "${value}")`, 2);
  return Number(value);
}

/** Runs one command; returns the exit code. Errors become one line on stderr. */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let ctx: Context | undefined;
  try {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (error) {
      throw new CliError(`${(error as Error).message}\n\n${USAGE}`, 2);
    }
    const { values: v, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (v.help || command === undefined || command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined && !v.help ? 2 : 0;
    }
    const known = ['list', 'groups', 'peek', 'tail', 'trace', 'dead-letters'];
    if (!known.includes(command)) throw new CliError(`unknown command "${command}"\n\n${USAGE}`, 2);
    const limit = integer('limit', v.limit, 1) ?? 20;
    const partition = integer('partition', v.partition, 0);
    const fromOffset = integer('from-offset', v['from-offset'], 0);
    const brokers = (v.brokers ?? env['KAFKA_BROKERS'] ?? '127.0.0.1:9092')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    if (brokers.length === 0 || !brokers.every((b) => /^[A-Za-z0-9._-]+:\d{1,5}$/.test(b))) {
      throw new CliError(`--brokers takes host:port[,host:port...] (got "${brokers.join(',')}")`, 2);
    }
    const need = (what: string) => {
      const value = rest[0];
      if (value === undefined) throw new CliError(`${command} needs ${what}\n\n${USAGE}`, 2);
      return value;
    };
    if ((command === 'peek' || command === 'tail') && rest.length === 0) need('a topic');
    if (command === 'trace') need('an order id');
    if (command === 'dead-letters' && rest[0] !== undefined && !['list', 'replay'].includes(rest[0])) {
      throw new CliError(`dead-letters takes "list" or "replay" (got "${rest[0]}")`, 2);
    }
    if (v.follow && command !== 'tail') throw new CliError('--follow goes with tail', 2);

    ctx = await connect(brokers, v.prefix ?? env['KAFKA_TOPIC_PREFIX'] ?? '', v.json, securityFrom(env));
    switch (command) {
      case 'list':
        await topicsCommand(ctx, { all: v.all });
        break;
      case 'groups':
        await groupsCommand(ctx, { group: v.group });
        break;
      case 'peek':
      case 'tail':
        await tailCommand(ctx, {
          topic: need('a topic'),
          mode: command,
          fromOffset: fromOffset === undefined ? null : BigInt(fromOffset),
          partition: partition ?? null,
          limit,
          follow: v.follow,
          key: v.key,
          type: v.type,
          correlationId: v['correlation-id'],
        });
        break;
      case 'trace':
        await traceCommand(ctx, need('an order id'));
        break;
      case 'dead-letters': {
        const filter = { topic: v.topic, offsets: v.offsets, partition, key: v.key, error: v.error };
        if (rest[0] === 'replay') await replayDeadLetters(ctx, filter, { yes: v.yes, dryRun: v['dry-run'] });
        else await listDeadLetters(ctx, filter);
        break;
      }
    }
    return 0;
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`topics: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`topics: failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await ctx?.admin.disconnect().catch(() => undefined);
  }
}
