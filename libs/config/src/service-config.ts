import { z } from 'zod';
import { authConfigShape } from './auth-config';
import { env } from './env-vars';
import { kafkaSecurityShape } from './kafka-security';

/**
 * The variables every service reads. The same names are used by infra/docker-compose.yml,
 * the local scripts (./dev) and the tests; the README's configuration table lists them.
 */
export const serviceConfigShape = {
  PORT: env.port(),
  /** address to bind; 0.0.0.0 so containers can reach it */
  HOST: env.string('0.0.0.0'),
  DATABASE_URL: env.postgresUrl(),
  DATABASE_POOL_SIZE: env.int({ min: 1, max: 100, fallback: 10 }),
  /** the CA (PEM) that signed the PostgreSQL server's certificate, for a URL that names none */
  DATABASE_SSL_CA_FILE: env.readableFile(),
  KAFKA_BROKERS: env.brokers(),
  /**
   * the client id this instance gives Kafka (default tcc-<service>): one per instance tells them
   * apart in the consumer group's member list (kafka-consumer-groups --describe --members)
   */
  KAFKA_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'may hold only letters, digits, ".", "_" and "-"')
    .max(200)
    .optional(),
  /** partitions of every topic the project creates; more than one so keys spread */
  KAFKA_TOPIC_PARTITIONS: env.int({ min: 2, max: 1000, fallback: 6 }),
  /** put before every topic name (e.g. `staging.`); empty by default */
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'may hold only letters, digits, ".", "_" and "-"')
    .max(100)
    .default(''),
  /**
   * copies of each partition of the topics the service creates; unset: the brokers'
   * default.replication.factor (3 on a three-broker cluster, 1 on one broker)
   */
  KAFKA_REPLICATION_FACTOR: env.int({ min: 1, max: 10 }).optional(),
  /**
   * the topics' min.insync.replicas: an acks=all write needs this many copies, or it is refused and
   * sent again; unset: the brokers' default (2 on a three-broker cluster)
   */
  KAFKA_MIN_INSYNC_REPLICAS: env.int({ min: 1, max: 10 }).optional(),
  ...kafkaSecurityShape,
  LOG_LEVEL: env.logLevel(),
  /** how long SIGTERM may take before the process exits anyway */
  SHUTDOWN_TIMEOUT_MS: env.int({ min: 100, max: 600_000, fallback: 15_000 }),
  /** outbox rows published per round; the relay wakes on NOTIFY and polls as a fallback */
  OUTBOX_BATCH_SIZE: env.int({ min: 1, max: 10_000, fallback: 500 }),
  OUTBOX_POLL_INTERVAL_MS: env.int({ min: 10, max: 60_000, fallback: 500 }),
  /** Prometheus' /metrics is served on this port of its own, apart from the API and its tokens */
  METRICS_PORT: env.port(9464),
  ...authConfigShape,
};

export const serviceConfigSchema = z.object(serviceConfigShape);
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;

/** Consumer settings shared by every service that consumes commands or replies. */
export const consumerConfigShape = {
  KAFKA_GROUP_ID: env.string(),
  /**
   * partitions handled side by side; each one is still handled one message at a time, and their
   * runs go to the batch handler together. At least the partitions one instance gets (6 topic
   * partitions by default): the next fetch waits for the partitions of the last one
   */
  CONSUMER_CONCURRENCY: env.int({ min: 1, max: 64, fallback: 6 }),
  /** attempts in all before a failing message is dead-lettered */
  CONSUMER_RETRY_MAX_ATTEMPTS: env.int({ min: 1, max: 100, fallback: 8 }),
  CONSUMER_RETRY_INITIAL_MS: env.int({ min: 1, max: 60_000, fallback: 100 }),
  CONSUMER_RETRY_MAX_MS: env.int({ min: 1, max: 600_000, fallback: 10_000 }),
  /**
   * a member silent this long leaves the group and its partitions move to the others (the broker's
   * group.min.session.timeout.ms, 6000 by default, is the least it accepts). With the heartbeat and
   * a rebalance, it bounds how long a crashed instance's partitions wait: keep it well under
   * ORDER_TRY_TIMEOUT_MS (README, "Running in production")
   */
  CONSUMER_SESSION_TIMEOUT_MS: env.int({ min: 1_000, max: 300_000, fallback: 6_000 }),
  /** how often a member tells the group it is alive (at most a third of the session timeout) */
  CONSUMER_HEARTBEAT_INTERVAL_MS: env.int({ min: 100, max: 100_000, fallback: 1_000 }),
  /** a larger message is dead-lettered unread (a saga message is well under 2 KiB) */
  CONSUMER_MAX_MESSAGE_BYTES: env.int({ min: 1_024, max: 1_000_000, fallback: 65_536 }),
  /**
   * least time between two offset commits: handled offsets wait this long at most and go in one
   * request (what a crash loses of them is delivered again, and handled idempotently)
   */
  CONSUMER_COMMIT_INTERVAL_MS: env.int({ min: 0, max: 10_000, fallback: 100 }),
};

/**
 * The longest a crashed instance's partitions wait before a survivor handles them: its session
 * timeout, then the other members' rejoin (each at its next heartbeat), then a fetch. ADR 0011;
 * `./dev failover` measured 7.3-7.8 s with the defaults (6000 and 1000).
 */
export function crashTakeoverMs(c: {
  CONSUMER_SESSION_TIMEOUT_MS: number;
  CONSUMER_HEARTBEAT_INTERVAL_MS: number;
}): number {
  return c.CONSUMER_SESSION_TIMEOUT_MS + 2 * c.CONSUMER_HEARTBEAT_INTERVAL_MS;
}
