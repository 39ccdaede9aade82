import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, runScript, testAuthEnv } from '@tcc/testing';
import type { Catalog, Customer, Product } from './clients';
import { Fleet } from './fleet';
import { postUntilAnswered } from './http';
import { GivenPostgres, OwnKafka, OwnPostgres } from './infra';
import type { Postgres } from './infra';
import { SERVICES } from './plan';
import type { ServiceName } from './plan';
import { SetupError } from './run';
import type { Run, RunBase } from './run';

const SHUTDOWN_TIMEOUT_MS = 10_000;
/** how long a SIGTERMed instance may take to exit: a little more than its SHUTDOWN_TIMEOUT_MS */
export const SHUTDOWN_LIMIT_MS = SHUTDOWN_TIMEOUT_MS + 5_000;

export interface Infrastructure {
  kafka: OwnKafka;
  pg: Postgres;
  /** each service's database URL */
  dbs: Record<ServiceName, string>;
}

/**
 * What every instance needs to run in a run of its own: where it listens, its database and
 * broker, the test identity provider's key, its consumer group, and a Kafka client id of its own
 * (so the group's member list tells the instances apart). Everything else keeps its default.
 */
export function instanceEnv(
  instance: { id: string; service: ServiceName; port: number; metricsPort: number },
  databaseUrl: string,
  brokers: string,
): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: String(instance.port),
    METRICS_PORT: String(instance.metricsPort),
    // the clients send tokens signed with this process's key, as users of an identity provider
    ...testAuthEnv,
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '5',
    KAFKA_BROKERS: brokers,
    KAFKA_GROUP_ID: `tcc-${instance.service}`,
    KAFKA_CLIENT_ID: `tcc-${instance.id.replace('#', '-')}`,
    KAFKA_TOPIC_PARTITIONS: '6',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  };
}

/** How long an order's tries may take before the saga cancels it (TIMEOUT), in the runs' services. */
export const TRY_TIMEOUT_MS = 20_000;

/** The chaos run's settings for quick recovery: a killed member's partitions move after 6 s, retries are short. */
const CHAOS_TUNING: Record<string, string> = {
  CONSUMER_CONCURRENCY: '3',
  CONSUMER_SESSION_TIMEOUT_MS: '6000',
  // long enough to ride out a PostgreSQL restart without dead-lettering real commands
  CONSUMER_RETRY_MAX_ATTEMPTS: '40',
  CONSUMER_RETRY_INITIAL_MS: '100',
  CONSUMER_RETRY_MAX_MS: '2000',
  OUTBOX_POLL_INTERVAL_MS: '500',
  ORDER_TRY_TIMEOUT_MS: String(TRY_TIMEOUT_MS),
  // short, so that some reservations expire while a participant is down (confirm after expiry)
  ORDER_CONFIRM_WINDOW_MS: '15000',
  ORDER_RETRY_INITIAL_MS: '1000',
  ORDER_RETRY_MAX_MS: '4000',
  ORDER_SCHEDULER_INTERVAL_MS: '250',
  SWEEP_INTERVAL_MS: '500',
};

/** What the infrastructure of a run depends on in its settings. */
export interface InfraSettings extends RunBase {
  /** a PostgreSQL server to use instead of starting one (it is then not restarted) */
  postgresUrl?: string | undefined;
  /** the broker secured (kafka.sh start --secure) */
  secure?: boolean;
}

/**
 * Kafka (one node, or a cluster of `kafkaNodes`) and PostgreSQL (its own, unless --postgres-url),
 * and each service's database, migrated.
 */
export async function startInfrastructure(run: Run<InfraSettings>, kafkaNodes = 1): Promise<Infrastructure> {
  const kafkaDir = mkdtempSync(join(tmpdir(), 'tcc-chaos-kafka-'));
  const given = run.s.postgresUrl;
  const [kafka, pg] = await Promise.all([
    OwnKafka.start(kafkaDir, { secure: run.s.secure ?? false, nodes: kafkaNodes }).catch((error: Error) => {
      throw new SetupError(`cannot start Kafka: ${error.message}`);
    }),
    (given
      ? Promise.resolve(new GivenPostgres(given))
      : OwnPostgres.start(mkdtempSync(join(tmpdir(), 'tcc-chaos-pg-')))
    ).catch((error: Error) => {
      throw new SetupError(
        `cannot start PostgreSQL (or give --postgres-url; it is then not restarted): ${error.message}`,
      );
    }),
  ]);
  run.cleanups.push(() => kafka.destroy(run.s.out));
  run.cleanups.push(() => pg.destroy(run.s.out));
  run.log(`Kafka at ${kafka.brokers}; PostgreSQL at ${pg.url('postgres')}`);
  const suffix = pg instanceof GivenPostgres ? `_chaos_${run.s.seed}` : '';
  const dbs = {} as Record<ServiceName, string>;
  for (const service of SERVICES) {
    dbs[service] = await pg.createDatabase(`tcc_${service}${suffix}`);
    const migrated = await runScript(service, 'migrate', { DATABASE_URL: dbs[service] });
    if (migrated.code !== 0) throw new SetupError(`${service} migrate failed: ${migrated.stderr}`);
  }
  run.log('databases created and migrated');
  return { kafka, pg, dbs };
}

/** The services as processes: order x1, stock x2, payment x2. */
export async function startServices(run: Run, { kafka, dbs }: Infrastructure): Promise<Fleet> {
  const fleet = new Fleet(
    (instance) => ({
      ...instanceEnv(instance, dbs[instance.service], kafka.brokers),
      ...CHAOS_TUNING,
      ...kafka.credentials[instance.service],
    }),
    join(run.s.out, 'logs'),
    (m) => run.log(m),
    SHUTDOWN_LIMIT_MS,
  );
  run.cleanups.push(() => fleet.stopAll());
  await Promise.all([
    fleet.add('order'),
    fleet.add('stock'),
    fleet.add('stock'),
    fleet.add('payment'),
    fleet.add('payment'),
  ]).catch((error: Error) => {
    throw new SetupError(error.message);
  });
  run.log(
    `services up: ${fleet
      .all()
      .map((i) => `${i.id} :${i.port}`)
      .join(', ')}`,
  );
  return fleet;
}

/** Creates the catalog's products and wallets through the services' REST APIs. */
export async function seedCatalog(run: Run<RunBase>, fleet: Fleet, catalog: Catalog): Promise<void> {
  await createProductsAndWallets(
    fleet,
    [...catalog.products, ...catalog.scarce],
    [...catalog.customers, ...catalog.poor],
  );
  run.log(
    `catalog: ${catalog.products.length} products, ${catalog.scarce.length} scarce (${catalog.scarce.map((p) => `${p.id}: ${p.quantity}`).join(', ')}); ` +
      `${catalog.customers.length} wallets, ${catalog.poor.length} poor`,
  );
}

/** Products (POST /products) and wallets (POST /wallets), as an operator. */
export async function createProductsAndWallets(
  fleet: Fleet,
  products: readonly Product[],
  customers: readonly Customer[],
): Promise<void> {
  const stats = { noAnswer: 0, serverErrors: 0 };
  for (const p of products) {
    const r = await postUntilAnswered(
      `${fleet.url('stock')}/products`,
      JSON.stringify({ id: p.id, name: p.id, price: p.price, quantity: p.quantity }),
      await bearer(),
      stats,
    );
    if (r.status !== 201)
      throw new SetupError(`create product ${p.id}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (const c of customers) {
    const r = await postUntilAnswered(
      `${fleet.url('payment')}/wallets`,
      JSON.stringify({ customerId: c.id, balance: c.balance }),
      await bearer(),
      stats,
    );
    if (r.status !== 201) throw new SetupError(`open wallet ${c.id}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}
