import { relative } from 'node:path';
import { Topics } from '@tcc/contracts';
import { HttpBadInputs, KafkaBadInputs } from './bad-inputs';
import { CancelBeforeTry } from './cancel-before-try';
import { makeCatalog, OrderClients } from './clients';
import { loadAndFaults } from './faults';
import { kafkaSecurityFromEnv } from '@tcc/kafka';
import { ChaosKafka, Duplicator } from './kafka';
import { parseSettings, repeatCommand, USAGE } from './options';
import { describeEvent, planFaults } from './plan';
import { Prng } from './prng';
import { reachQuiet } from './quiet';
import { openRun, runToEnd } from './run';
import type { Run } from './run';
import { seedCatalog, startInfrastructure, startServices } from './setup';
import { formatSummary } from './summary';
import type { ChaosSummary } from './summary';
import { verdict } from './verdict';

export async function main(argv: string[]): Promise<number> {
  let settings;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (settings === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return runToEnd(openRun(settings), chaos, {
    title: 'CHAOS RUN',
    format: formatSummary,
    repeat: repeatCommand,
  });
}

/** The phases: plan, set up, load and faults, quiet, verdict. */
async function chaos(run: Run): Promise<ChaosSummary> {
  const s = run.s;
  const root = new Prng(s.seed);
  const plan = planFaults(root.fork('plan'), {
    durationMs: s.durationMs,
    killsPerService: s.kills,
    cancelBeforeTryBatches: s.short ? 2 : 4,
    cancelBeforeTryPerBatch: 3,
  });
  run.log(`chaos run, seed ${s.seed} (repeat: ${repeatCommand(s)})`);
  run.log(
    `${s.durationMs / 1_000} s of load from ${s.clients} clients; ${(s.share * 100).toFixed(0)}% of orders duplicated; logs in ${relative(process.cwd(), s.out) || '.'}`,
  );
  for (const e of plan) run.log(`  plan: ${describeEvent(e)}`);

  const infra = await startInfrastructure(run);
  const fleet = await startServices(run, infra);
  const catalog = makeCatalog(root.fork('catalog'));
  await seedCatalog(run, fleet, catalog);

  const topics = new ChaosKafka(infra.kafka.brokers, kafkaSecurityFromEnv(infra.kafka.credentials.admin));
  await topics.connect();
  run.cleanups.push(() => topics.disconnect());
  const duplicator = new Duplicator(topics, [Topics.stockCommands, Topics.paymentCommands]);
  await duplicator.start();
  const orderUrl = () => fleet.url('order');
  const clients = new OrderClients(
    root.fork('clients'),
    s.clients,
    orderUrl,
    catalog,
    s.share,
    [300, 1_500],
    (a) => duplicator.decide(a.orderId, a.duplicate, a.duplicateDelayMs),
  );
  const kafkaBad = new KafkaBadInputs(topics, root.fork('kafka-bad-inputs'));
  const httpBad = new HttpBadInputs(root.fork('http-bad-inputs'), orderUrl, clients.stats, () =>
    fleet.url('stock'),
  );
  const cancels = new CancelBeforeTry(topics, root.fork('cancel-before-try'), catalog);

  const { kafka, pg } = infra;
  const targets = { fleet, kafka, pg, kafkaBad, httpBad, cancels, catalog };
  const chaosSeconds = await loadAndFaults(run, plan, clients, duplicator, targets);
  const quiet = await reachQuiet(run, topics, infra.dbs, fleet, duplicator);
  const ran = {
    plan,
    infra,
    fleet,
    topics,
    duplicator,
    clients,
    kafkaBad,
    httpBad,
    cancels,
    chaosSeconds,
    quiet,
  };
  return verdict(run, ran);
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
