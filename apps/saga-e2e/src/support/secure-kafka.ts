import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaConfig } from 'kafkajs';
import { kafkaSecurityFromEnv } from '@tcc/kafka';
import { freePort, workspaceRoot } from '@tcc/testing';

const run = promisify(execFile);
const kafkaScript = join(workspaceRoot, 'infra', 'local', 'kafka.sh');

export type SecureUser = 'admin' | 'order' | 'stock' | 'payment';

/**
 * A broker of the test's own from `infra/local/kafka.sh start --secure`, on free ports with a state
 * dir of its own: SASL_SSL, SCRAM-SHA-512 users, ACLs for the topics under `prefix` and the consumer
 * groups `<prefix><service>` (the Stack's).
 */
export class SecureKafka {
  private constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly stateDir: string,
    readonly brokers: string,
  ) {}

  static async start(prefix: string): Promise<SecureKafka> {
    const port = await freePort();
    let controllerPort = await freePort();
    while (controllerPort === port) controllerPort = await freePort();
    const stateDir = mkdtempSync(join(tmpdir(), 'tcc-secure-kafka-'));
    const env = {
      ...process.env,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_STATE_DIR: stateDir,
      KAFKA_HEAP_MAX: '512m',
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_GROUP_PREFIX: prefix,
    };
    const kafka = new SecureKafka(env, stateDir, `127.0.0.1:${port}`);
    try {
      await kafka.script('start', '--secure');
    } catch (error) {
      await kafka.stop();
      throw error;
    }
    return kafka;
  }

  private async script(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run(kafkaScript, args, { env: this.env, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`kafka.sh ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
    }
  }

  /** The KAFKA_* variables that connect as `user` (kafka.sh secure-env), KAFKA_BROKERS left out. */
  async credentials(user: SecureUser): Promise<Record<string, string>> {
    const lines = (await this.script('secure-env', user)).trim().split('\n');
    const vars = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    delete vars['KAFKA_BROKERS'];
    return vars;
  }

  /**
   * A kafkajs client built from such variables, the way the services and tools build theirs; it
   * gives up at the first failure, so a refusal shows at once.
   */
  client(vars: Record<string, string>, overrides: Partial<KafkaConfig> = {}): Kafka {
    return new Kafka({
      clientId: 'tcc-secure-test',
      brokers: [this.brokers],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 3_000,
      retry: { retries: 0 },
      ...kafkaSecurityFromEnv(vars),
      ...overrides,
    });
  }

  async stop(): Promise<void> {
    await this.script('stop').catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** The Kafka error type of a rejection (kafkajs wraps protocol errors: the type may be on a cause). */
export function kafkaErrorType(error: unknown): string | undefined {
  for (let e = error as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.type === 'string') return e.type;
  }
  return undefined;
}
