import { startTestInfrastructure } from '../src/infrastructure';

/**
 * Starts (or finds) Kafka and PostgreSQL once per Jest run and hands them to the test files
 * through KAFKA_BROKERS and TEST_DATABASE_URL.
 */
export default async function globalSetup(): Promise<void> {
  const infra = await startTestInfrastructure();
  process.env['KAFKA_BROKERS'] = infra.kafkaBrokers;
  process.env['TEST_DATABASE_URL'] = infra.testDatabaseUrl;
  (globalThis as { __TCC_INFRA__?: typeof infra }).__TCC_INFRA__ = infra;
  process.stderr.write(`\ntest infrastructure: ${infra.describe.join('; ')}\n`);
}
