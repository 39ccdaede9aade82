import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { createMessage, Topics } from '@tcc/contracts';
import { kafkaSecurityFromEnv } from '@tcc/kafka';
import type { Treatment } from './bad-inputs';
import type { OwnKafka } from './infra';

/** What a secured broker does to a client that does not authenticate. */
const REFUSED = 'refused: Closed connection';

/**
 * On a secured broker, a client that trusts the broker's CA but has no credentials tries to
 * publish a PaymentConfirm: the broker must close its connection before anything is written.
 */
export async function publishWithoutCredentials(kafka: OwnKafka): Promise<Treatment> {
  const { KAFKA_SSL, KAFKA_SSL_CA_FILE } = kafka.credentials.admin;
  const client = new Kafka({
    clientId: 'tcc-chaos-intruder',
    brokers: [kafka.brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    retry: { retries: 0 },
    ...kafkaSecurityFromEnv({ KAFKA_SSL, KAFKA_SSL_CA_FILE }),
  });
  const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const orderId = randomUUID();
  const confirm = createMessage(
    'PaymentConfirm',
    { orderId, customerId: 'chaos-intruder' },
    { correlationId: orderId },
  );
  const got = await producer
    .connect()
    .then(() =>
      producer.send({
        topic: Topics.paymentCommands,
        acks: -1,
        messages: [{ key: 'chaos-intruder', value: JSON.stringify(confirm) }],
      }),
    )
    .then(
      () => 'written',
      (error: Error) => `refused: ${error.message}`,
    );
  await producer.disconnect().catch(() => undefined);
  return {
    kind: 'no-credentials',
    target: `${Topics.paymentCommands}, without credentials`,
    expected: REFUSED,
    got,
    ok: got === REFUSED,
  };
}
