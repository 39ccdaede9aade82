import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes } from 'kafkajs';
import { Topics } from '@tcc/contracts';
import { Fleet } from '../fleet';
import { ChaosKafka } from '../kafka';
import { SERVICES } from '../plan';
import type { ServiceName } from '../plan';
import { Prng } from '../prng';
import { query, waitQuiet } from '../quiet';
import { openRun, runToEnd, SetupError } from '../run';
import type { Run } from '../run';
import {
  createProductsAndWallets,
  instanceEnv,
  SHUTDOWN_LIMIT_MS,
  startInfrastructure,
  TRY_TIMEOUT_MS,
} from '../setup';
import type { Infrastructure } from '../setup';
import { checkInvariants } from '../verdict';
import { failoverCatalog, OpenLoad } from './load';
import { parseFailoverSettings, repeatFailover, USAGE } from './options';
import type { FailoverSettings } from './options';
import { BEFORE_KILL_MS, formatFailover, judge, takeoverOf, windowStats } from './report';
import type { FailoverSummary, FaultKind, FaultResult, OrderOutcome } from './report';
import { coordinators, leaders, partitionsOfMember, TakeoverWatch } from './takeover';
import type { WatchedPartition } from './takeover';

/** Brokers of the run's cluster, and instances of every service. */
const BROKERS = 3;
const INSTANCES = 2;
/** How long a fault's partitions are watched before one that never moved counts as stuck. */
const TAKEOVER_LIMIT_MS = 60_000;

export async function main(argv: string[]): Promise<number> {
  let settings;
  try {
    settings = parseFailoverSettings(argv);
  } catch (error) {
    process.stderr.write(`failover: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (settings === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return runToEnd(openRun(settings, 'failover.log'), failover, {
    title: 'FAILOVER RUN',
    format: formatFailover,
    repeat: repeatFailover,
  });
}

/** Set up, load, the four faults one after another, quiet, invariants, summary. */
async function failover(run: Run<FailoverSettings>): Promise<FailoverSummary> {
  const s = run.s;
  const prng = new Prng(s.seed);
  run.log(`failover run, seed ${s.seed} (repeat: ${repeatFailover(s)})`);
  const infra = await startInfrastructure(run, BROKERS);
  const fleet = await startFleet(run, infra);
  // it measures: a request to a dead broker is tried again every 250 ms at most, so a takeover is
  // seen when it happens rather than at the next step of a longer backoff
  const kafka = new ChaosKafka(infra.kafka.brokers, {}, { retries: 40, maxRetryTime: 250 });
  await kafka.connect();
  run.cleanups.push(() => kafka.disconnect());
  const catalog = failoverCatalog(prng.fork('catalog'));
  await createProductsAndWallets(fleet, catalog.products, catalog.customers);
  run.log(`catalog: ${catalog.products.length} products, ${catalog.customers.length} wallets`);

  const orderUrls = fleet.live('order').map((i) => `http://127.0.0.1:${i.port}`);
  const load = new OpenLoad(prng.fork('load'), s.rate, orderUrls, catalog);
  load.start();
  run.log(
    `load: ${s.rate} orders/s over ${orderUrls.length} order instances; ${s.warmupMs / 1_000} s of warm-up`,
  );
  await sleep(s.warmupMs);
  const baselineFrom = Date.now();
  await sleep(s.settleMs);

  const faults: FaultResult[] = [];
  const victims = prng.fork('victims');
  for (const kind of s.faults) {
    const fault = await (kind === 'broker'
      ? killLeadingBroker(run, infra, kafka)
      : killInstance(run, fleet, kafka, kind, victims.int(0, INSTANCES - 1)));
    faults.push(fault);
    await sleep(s.settleMs);
  }

  run.log('stopping the load; waiting for every order to be answered');
  await load.stop();
  const quiet = await waitQuiet(run, kafka, infra.dbs, fleet, 180_000);
  run.log(`quiet ${quiet.reached ? 'reached' : 'NOT reached'}: ${quiet.detail}`);

  const acceptedFile = join(s.out, 'accepted.json');
  const accepted = load.orders.filter((o) => o.orderId !== undefined);
  writeFileSync(
    acceptedFile,
    JSON.stringify(
      accepted.map(({ customerId, idempotencyKey, orderId }) => ({ customerId, idempotencyKey, orderId })),
    ),
  );
  run.log('running the invariant checker');
  const invariants = await checkInvariants(run, infra.dbs, infra.kafka, acceptedFile);
  const outcomes = await readOutcomes(infra.dbs.order, accepted);

  const firstKill = faults[0]?.killedAt ?? Date.now();
  const unjudged: Omit<FailoverSummary, 'failures' | 'ok'> = {
    seed: s.seed,
    repeat: repeatFailover(s),
    startedAt: new Date(run.t0).toISOString(),
    wallSeconds: Math.round((Date.now() - run.t0) / 1_000),
    rate: s.rate,
    tryTimeoutMs: TRY_TIMEOUT_MS,
    topology: `${BROKERS} Kafka brokers (${await replication(kafka)}), ${INSTANCES} instances of each service`,
    load: { ...load.stats },
    baseline: windowStats(outcomes, baselineFrom, firstKill - BEFORE_KILL_MS),
    faults: faults.map((f) => ({
      ...f,
      window: windowStats(outcomes, f.killedAt - BEFORE_KILL_MS, f.recoveredAt),
      takeover: takeoverOf(f.takeovers),
    })),
    total: windowStats(outcomes, 0, Number.MAX_SAFE_INTEGER),
    perInstance: orderUrls.map((_, i) =>
      windowStats(
        outcomes.filter((o) => o.instance === i),
        0,
        Number.MAX_SAFE_INTEGER,
      ),
    ),
    unexpectedExits: fleet.stats.unexpectedExits,
    quiet,
    invariants: {
      exitCode: invariants.exitCode,
      failed: invariants.results
        .filter((r) => r.violations.length > 0)
        .map((r) => `${r.id} ${r.name}: ${r.violations.length} violations`),
    },
  };
  const failures = judge(unjudged);
  return { ...unjudged, failures, ok: failures.length === 0 };
}

/** Two instances of every service, each with its own Kafka client id; the services' defaults otherwise. */
async function startFleet(run: Run<FailoverSettings>, { kafka, dbs }: Infrastructure): Promise<Fleet> {
  const fleet = new Fleet(
    (instance) => instanceEnv(instance, dbs[instance.service], kafka.brokers),
    join(run.s.out, 'logs'),
    (m) => run.log(m),
    SHUTDOWN_LIMIT_MS,
  );
  run.cleanups.push(() => fleet.stopAll());
  const starting: Promise<unknown>[] = [];
  for (const service of SERVICES) for (let i = 0; i < INSTANCES; i++) starting.push(fleet.add(service));
  await Promise.all(starting).catch((error: Error) => {
    throw new SetupError(error.message);
  });
  fleet.startWatchdog();
  run.log(
    `services up: ${fleet
      .all()
      .map((i) => `${i.id} :${i.port}`)
      .join(', ')}`,
  );
  return fleet;
}

const clientIdOf = (instanceId: string) => `tcc-${instanceId.replace('#', '-')}`;

/** SIGKILLs one instance of the service, watches its partitions move, restarts it after the down time. */
async function killInstance(
  run: Run<FailoverSettings>,
  fleet: Fleet,
  kafka: ChaosKafka,
  service: ServiceName,
  victim: number,
): Promise<FaultResult> {
  const live = fleet.live(service);
  const instance = live[victim % live.length];
  if (!instance) return failed(service, `${service}: no live instance`);
  const owned = await partitionsOfMember(kafka, `tcc-${service}`, clientIdOf(instance.id));
  run.log(
    `${instance.id} holds ${owned.map((p) => `${p.topic}/${p.partition}`).join(', ') || 'no partition'}`,
  );
  const watch = new TakeoverWatch(kafka, owned);
  await watch.begin();
  const killedAt = Date.now();
  let landed = () => {};
  const down = new Promise<void>((resolve) => (landed = resolve));
  const killing = fleet.kill(service, victim, run.s.downMs, landed);
  // what the victim handled until the SIGKILL landed is not a takeover
  await Promise.race([down, killing]);
  await watch.killed();
  const takeovers = await watch.until(TAKEOVER_LIMIT_MS);
  logTakeover(run, instance.id, takeovers);
  const killed = await killing;
  return {
    kind: service,
    victim: `${instance.id} (SIGKILL)`,
    killedAt,
    recoveredAt: Date.now(),
    takeovers,
    ...(killed ? {} : { error: `${instance.id} could not be killed` }),
  };
}

/**
 * SIGKILLs the broker whose loss stops the most: the one coordinating the most of the saga's
 * consumer groups (each of their members must find a new coordinator), then the one leading the
 * most partitions of the consumed topics; restarts it after the down time. The takeover is
 * watched on the partitions it led and on every partition of the groups it coordinated.
 */
async function killLeadingBroker(
  run: Run<FailoverSettings>,
  infra: Infrastructure,
  kafka: ChaosKafka,
): Promise<FaultResult> {
  const byBroker = await leaders(kafka);
  const byGroup = await coordinators(kafka);
  const all = [...byBroker.values()].flat();
  const groupsOf = (node: number) => [...byGroup].filter(([, n]) => n === node).map(([g]) => g);
  const [node] = [...byBroker.keys()].sort(
    (a, b) =>
      groupsOf(b).length - groupsOf(a).length ||
      (byBroker.get(b)?.length ?? 0) - (byBroker.get(a)?.length ?? 0),
  );
  const led = node === undefined ? undefined : byBroker.get(node);
  if (node === undefined || !led) return failed('broker', 'no partition leader found');
  const groups = groupsOf(node);
  const watched = [...led, ...all.filter((p) => groups.includes(p.group) && !led.includes(p))];
  const victim =
    `broker ${node} (SIGKILL; led ${led.length} of ${all.length} partitions` +
    `${groups.length ? `, coordinated ${groups.join(', ')}` : ''})`;
  const watch = new TakeoverWatch(kafka, watched);
  await watch.begin();
  const killedAt = Date.now();
  try {
    await infra.kafka.kill(node);
  } catch (error) {
    return failed('broker', `kill broker ${node}: ${(error as Error).message}`);
  }
  run.log(`killed ${victim}; restarting it in ${run.s.downMs} ms`);
  await watch.killed();
  const restarting = sleep(run.s.downMs).then(() => infra.kafka.startNode(node));
  const takeovers = await watch.until(TAKEOVER_LIMIT_MS);
  logTakeover(run, `broker ${node}`, takeovers);
  let error: string | undefined;
  await restarting.catch((e: Error) => (error = `restart broker ${node}: ${e.message}`));
  run.log(`broker ${node} restarted`);
  return {
    kind: 'broker',
    victim,
    killedAt,
    recoveredAt: Date.now(),
    takeovers,
    ...(error ? { error } : {}),
  };
}

function failed(kind: FaultKind, error: string): FaultResult {
  const now = Date.now();
  // a script's error ends with its usage: its first line says what went wrong
  return {
    kind,
    victim: kind,
    killedAt: now,
    recoveredAt: now,
    takeovers: [],
    error: error.split('\n')[0] ?? error,
  };
}

function logTakeover(
  run: Run<FailoverSettings>,
  victim: string,
  takeovers: (WatchedPartition & { ms: number | undefined })[],
): void {
  const t = takeoverOf(takeovers);
  run.log(
    `${victim}: takeover ${t.maxMs === undefined ? `NOT complete (stuck: ${t.stuck.join(', ')})` : `${t.maxMs} ms`} ` +
      `(median ${t.medianMs ?? '-'} ms over ${takeovers.length} partitions)`,
  );
}

/** The replication the services' topics got, as the cluster describes the reply topic. */
async function replication(kafka: ChaosKafka): Promise<string> {
  return kafka.withAdmin(async (admin) => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [Topics.orderReplies] });
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: Topics.orderReplies, configNames: ['min.insync.replicas'] },
      ],
    });
    const minIsr = resources[0]?.configEntries.find(
      (e) => e.configName === 'min.insync.replicas',
    )?.configValue;
    return `replication factor ${topics[0]?.partitions[0]?.replicas.length ?? '?'}, min.insync.replicas ${minIsr ?? '?'}`;
  });
}

/** Each accepted order's final status and when it got there, with when and where it was sent. */
async function readOutcomes(
  orderDb: string,
  accepted: readonly { orderId?: string; sentAt: number; instance: number }[],
): Promise<OrderOutcome[]> {
  const rows = await query<{ id: string; status: string; reason: string | null; final_ms: string }>(
    orderDb,
    `SELECT id, status, reason, (extract(epoch FROM updated_at) * 1000)::bigint AS final_ms FROM orders`,
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return accepted.map((o) => {
    const row = o.orderId ? byId.get(o.orderId) : undefined;
    return {
      sentAt: o.sentAt,
      instance: o.instance,
      status: row?.status ?? 'MISSING',
      reason: row?.reason ?? null,
      finalAt: Number(row?.final_ms ?? 0),
    };
  });
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
