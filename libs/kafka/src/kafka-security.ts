import { readFileSync } from 'node:fs';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { kafkaSecurityOf, kafkaSecuritySchema, loadConfig } from '@tcc/config';
import type { KafkaSecurity } from '@tcc/config';

/** The part of a kafkajs client's configuration that says how it authenticates and encrypts. */
export type KafkaSecurityOptions = Pick<KafkaConfig, 'ssl' | 'sasl'>;

/**
 * kafkajs' `ssl` and `sasl` options: the one place they are built, for the services and every
 * tool. With a CA file, only that CA is trusted (the broker's certificate must name the host the
 * client connects to); without one, the system's CAs.
 */
export function kafkaSecurityOptions(security: KafkaSecurity): KafkaSecurityOptions {
  const options: KafkaSecurityOptions = {};
  if (security.tls) {
    const { caFile } = security.tls;
    options.ssl = caFile === undefined ? true : { ca: [readFileSync(caFile, 'utf8')] };
  }
  if (security.sasl) options.sasl = saslOptions(security.sasl);
  return options;
}

/** kafkajs types each mechanism's options apart, so each is spelled out. */
function saslOptions({ mechanism, username, password }: NonNullable<KafkaSecurity['sasl']>): SASLOptions {
  switch (mechanism) {
    case 'scram-sha-512':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'plain':
      return { mechanism, username, password };
  }
}

/**
 * For the tools: the services' variables (KAFKA_SASL_*, KAFKA_SSL, KAFKA_SSL_CA_FILE), validated
 * the same way; a ConfigError names whatever is wrong.
 */
export function kafkaSecurityFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaSecurityOptions {
  return kafkaSecurityOptions(kafkaSecurityOf(loadConfig(kafkaSecuritySchema, env)));
}

/** Who the client is, for messages: ` as order (SCRAM-SHA-512, TLS)`; '' for a plain client. */
export function describeKafkaSecurity(security: KafkaSecurity | undefined): string {
  if (security === undefined) return '';
  const tls = security.tls ? 'TLS' : 'no TLS';
  if (security.sasl === undefined) return security.tls ? ` (${tls}, no credentials)` : '';
  return ` as ${security.sasl.username} (${security.sasl.mechanism.toUpperCase()}, ${tls})`;
}
