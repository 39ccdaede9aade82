import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpBadInputs, KafkaBadInputs } from './bad-inputs';
import type { CancelBeforeTry } from './cancel-before-try';
import type { Catalog, OrderClients } from './clients';
import type { Fleet } from './fleet';
import type { OwnKafka, Postgres } from './infra';
import type { Duplicator } from './kafka';
import { describeEvent, isHttpBadInput, SERVICES } from './plan';
import type { FaultEvent, KafkaBadInput } from './plan';
import type { Run } from './run';

/** What the faults act on. */
export interface FaultTargets {
  fleet: Fleet;
  kafka: OwnKafka;
  pg: Postgres;
  kafkaBad: KafkaBadInputs;
  httpBad: HttpBadInputs;
  cancels: CancelBeforeTry;
  catalog: Catalog;
}

/**
 * The chaos itself: the clients place orders until the run's duration is over while each planned
 * fault fires at its time; a fault that cannot be carried out is recorded, and the run goes on.
 * Returns once the load is done and every fault has finished, with the seconds that took.
 */
export async function loadAndFaults(
  run: Run,
  plan: FaultEvent[],
  clients: OrderClients,
  duplicator: Duplicator,
  targets: FaultTargets,
): Promise<number> {
  const { fleet } = targets;
  fleet.startWatchdog();
  const start = Date.now();
  run.log('load and faults start');
  const load = clients.run(start + run.s.durationMs);
  const progress = setInterval(() => {
    const up = SERVICES.map((svc) => `${svc} ${fleet.live(svc).length}`).join(', ');
    run.log(
      `progress: ${clients.accepted.length} orders accepted; instances up: ${up}; ${duplicator.stats.published} duplicates`,
    );
  }, 10_000);
  const actions: Promise<void>[] = [];
  for (const event of plan) {
    const wait = start + event.at - Date.now();
    if (wait > 0) await sleep(wait);
    actions.push(
      fire(run, event, targets).catch((error: Error) => {
        run.faultErrors.push(`${describeEvent(event)}: ${error.message}`);
        run.log(`FAULT FAILED: ${describeEvent(event)}: ${error.message}`);
      }),
    );
  }
  await load;
  run.log(`load done: ${clients.accepted.length} orders accepted; waiting for the faults in progress`);
  await Promise.all(actions);
  clearInterval(progress);
  return Math.round((Date.now() - start) / 1_000);
}

async function fire(run: Run, e: FaultEvent, ctx: FaultTargets): Promise<void> {
  run.log(`fault: ${describeEvent(e)}`);
  switch (e.kind) {
    case 'kill': {
      const id = await ctx.fleet.kill(e.service, e.victim, e.downMs);
      if (!id) throw new Error(`no ${e.service} instance was up to kill`);
      return;
    }
    case 'kafka-restart':
      await ctx.kafka.restart(e.downMs);
      run.restarts.kafka++;
      run.log('Kafka is back');
      return;
    case 'postgres-restart':
      if (!ctx.pg.restartable) {
        run.log('PostgreSQL restart skipped: the server was given with --postgres-url');
        return;
      }
      await ctx.pg.restart(e.downMs);
      run.restarts.postgres++;
      run.log('PostgreSQL is back');
      return;
    case 'add-instance':
      await ctx.fleet.scaleUp(e.service);
      return;
    case 'remove-instance': {
      const id = await ctx.fleet.scaleDown(e.service, e.victim);
      if (!id) throw new Error(`fewer than two ${e.service} instances up: none removed`);
      return;
    }
    case 'cancel-before-try':
      await ctx.cancels.send(e.count);
      run.log(`sent cancel then try for ${e.count} made-up orders`);
      return;
    case 'bad-input':
      if (isHttpBadInput(e.input)) {
        const [customer, other] = ctx.catalog.customers;
        const product = ctx.catalog.products[0]?.id ?? '';
        await ctx.httpBad.send(e.input, customer?.id ?? '', product, other?.id ?? '');
      } else await ctx.kafkaBad.send(e.input satisfies KafkaBadInput);
      run.log(`sent bad input ${e.input}`);
      return;
  }
}
