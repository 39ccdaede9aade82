import { Kafka, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import type { KafkaSecurityOptions } from '@tcc/kafka';

/** A failure the user can act on: printed as one line, with an exit code (2 = bad arguments). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Context {
  brokers: string[];
  /** KAFKA_TOPIC_PREFIX of the system being inspected */
  prefix: string;
  json: boolean;
  kafka: Kafka;
  admin: Admin;
  out: (text: string) => void;
  /** all topic names on the broker, loaded once */
  topicNames(): Promise<string[]>;
  /** the broker's name for a topic given with or without the prefix; unknown names are an error */
  resolveTopic(name: string): Promise<string>;
}

export async function connect(
  brokers: string[],
  prefix: string,
  json: boolean,
  security: KafkaSecurityOptions = {},
): Promise<Context> {
  const kafka = new Kafka({
    clientId: 'tcc-topics-cli',
    brokers,
    ...security,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 15_000,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw new CliError(
      `cannot reach Kafka at ${brokers.join(',')} (--brokers or KAFKA_BROKERS): ${(error as Error).message}`,
    );
  }
  let names: Promise<string[]> | undefined;
  const topicNames = () =>
    (names ??= admin.listTopics().then((t) => t.filter((n) => !n.startsWith('__')).sort()));
  return {
    brokers,
    prefix,
    json,
    kafka,
    admin,
    out: (text) => process.stdout.write(`${text}\n`),
    topicNames,
    async resolveTopic(name) {
      const all = await topicNames();
      for (const candidate of [`${prefix}${name}`, name]) if (all.includes(candidate)) return candidate;
      const mine = all.filter((t) => t.startsWith(prefix) && !t.startsWith('test.'));
      const hint =
        mine.length > 12
          ? `${mine.slice(0, 12).join(', ')}, … (${mine.length} in all; see "list")`
          : mine.join(', ');
      throw new CliError(`unknown topic "${name}"; topics here: ${hint || '(none)'}`);
    },
  };
}
