import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { env } from './env-vars';
import { ConfigError } from './load-config';

/** The SASL mechanisms a client may use; the project's broker (kafka.sh --secure) offers SCRAM-SHA-512. */
export const KAFKA_SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256', 'plain'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** Whether a file can be read and holds at least one PEM certificate. */
function isPemCertificateFile(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').includes('-----BEGIN CERTIFICATE-----');
  } catch {
    return false;
  }
}

/**
 * How a Kafka client proves who it is (SASL) and protects the connection (TLS). The services and
 * every tool (topics, check, bench, chaos) read the same variables. Each one alone is checked here;
 * which of them belong together is checked by `kafkaSecurityOf`.
 */
export const kafkaSecurityShape = {
  /** scram-sha-512 (the default once credentials are given), scram-sha-256 or plain */
  KAFKA_SASL_MECHANISM: z
    .string()
    .toLowerCase()
    .pipe(z.enum(KAFKA_SASL_MECHANISMS, { error: `must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}` }))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  /** never validated beyond presence, so no message ever repeats it */
  KAFKA_SASL_PASSWORD: z.string().optional(),
  /** TLS to the brokers */
  KAFKA_SSL: env.boolean(false),
  /** PEM file of the CA that signed the brokers' certificates; without it, the system's CAs */
  KAFKA_SSL_CA_FILE: z
    .string()
    .refine(isPemCertificateFile, {
      error: 'must be a readable file with a PEM certificate (the CA to trust)',
    })
    .optional(),
};

export const kafkaSecuritySchema = z.object(kafkaSecurityShape);
export type KafkaSecurityConfig = z.infer<typeof kafkaSecuritySchema>;

/** A Kafka client's security settings once they are known to fit together. */
export interface KafkaSecurity {
  /** TLS, trusting `caFile` (PEM) when given, else the system's CAs; false: no TLS */
  tls: false | { caFile?: string };
  /** SASL credentials; none: the client does not authenticate */
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
}

/** The combinations that cannot work, each named by its variables (never by their values). */
function combinationProblems(c: KafkaSecurityConfig): string[] {
  const problems: string[] = [];
  const user = c.KAFKA_SASL_USERNAME !== undefined;
  const password = c.KAFKA_SASL_PASSWORD !== undefined;
  if (user && !password) problems.push('KAFKA_SASL_USERNAME is set but KAFKA_SASL_PASSWORD is not');
  if (password && !user) problems.push('KAFKA_SASL_PASSWORD is set but KAFKA_SASL_USERNAME is not');
  if (c.KAFKA_SASL_MECHANISM !== undefined && !user && !password) {
    problems.push('KAFKA_SASL_MECHANISM is set but KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are not');
  }
  if (c.KAFKA_SSL_CA_FILE !== undefined && !c.KAFKA_SSL) {
    problems.push('KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true (a CA is only used over TLS)');
  }
  return problems;
}

/**
 * The client's security settings from validated variables; a ConfigError naming every combination
 * that does not fit (a username without its password, a mechanism without credentials, a CA without TLS).
 */
export function kafkaSecurityOf(c: KafkaSecurityConfig): KafkaSecurity {
  const problems = combinationProblems(c);
  if (problems.length > 0) throw new ConfigError(problems);
  const tls: KafkaSecurity['tls'] = c.KAFKA_SSL
    ? c.KAFKA_SSL_CA_FILE === undefined
      ? {}
      : { caFile: c.KAFKA_SSL_CA_FILE }
    : false;
  const { KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = c;
  if (username === undefined || password === undefined) return { tls };
  return { tls, sasl: { mechanism: c.KAFKA_SASL_MECHANISM ?? 'scram-sha-512', username, password } };
}
