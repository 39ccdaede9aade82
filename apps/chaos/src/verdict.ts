import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deadLetterTopicOf, Topics } from '@tcc/contracts';
import { workspaceRoot } from '@tcc/testing';
import { CONSUMED_TOPICS } from './bad-inputs';
import type { HttpBadInputs, KafkaBadInputs } from './bad-inputs';
import type { CancelBeforeTry } from './cancel-before-try';
import type { OrderClients } from './clients';
import type { Fleet } from './fleet';
import type { ChaosKafka, Duplicator } from './kafka';
import { repeatCommand } from './options';
import { describeEvent, SERVICES } from './plan';
import type { FaultEvent, ServiceName } from './plan';
import { query } from './quiet';
import type { Quiet } from './quiet';
import type { Run, RunBase } from './run';
import type { OwnKafka } from './infra';
import { publishWithoutCredentials } from './intruder';
import type { Infrastructure } from './setup';
import { judge } from './summary';
import type { ChaosSummary, InvariantResult, Unjudged } from './summary';

/** Everything the run did, to be read back and judged once it is quiet. */
export interface Ran {
  plan: FaultEvent[];
  infra: Infrastructure;
  fleet: Fleet;
  topics: ChaosKafka;
  duplicator: Duplicator;
  clients: OrderClients;
  kafkaBad: KafkaBadInputs;
  httpBad: HttpBadInputs;
  cancels: CancelBeforeTry;
  chaosSeconds: number;
  quiet: Quiet;
}

/**
 * Reads what became of the run: the dead letters and replies (did every bad input and every
 * cancel before its try get its treatment?), the invariant checker's verdict and the orders'
 * final states; then judges it.
 */
export async function verdict(run: Run, ran: Ran): Promise<ChaosSummary> {
  const { s } = run;
  const { plan, infra, fleet, topics, clients, kafkaBad, httpBad, cancels, quiet } = ran;
  const { dbs } = infra;
  const accepted = [...clients.accepted, ...httpBad.accepted];

  run.log('reading the dead-letter topics and the replies');
  const deadLetters = await topics.readAll(Object.keys(CONSUMED_TOPICS).map(deadLetterTopicOf));
  const replies = await topics.readAll([Topics.orderReplies]);
  const badInputs = [...kafkaBad.check(deadLetters), ...httpBad.results];
  if (s.secure) badInputs.push(await publishWithoutCredentials(infra.kafka));
  const cancelResults = cancels.check(replies);
  const others = deadLetters.filter((d) => !kafkaBad.isMine(d));

  const acceptedFile = join(s.out, 'accepted.json');
  writeFileSync(
    acceptedFile,
    JSON.stringify(
      accepted.map(({ customerId, idempotencyKey, orderId }) => ({ customerId, idempotencyKey, orderId })),
    ),
  );
  run.log('running the invariant checker');
  const invariants = await checkInvariants(run, dbs, infra.kafka, acceptedFile);

  const rows = await query<{ status: string; reason: string | null; n: string }>(
    dbs.order,
    'SELECT status, reason, count(*) AS n FROM orders GROUP BY status, reason',
  );
  const count = (status: string) =>
    rows.filter((r) => r.status === status).reduce((a, r) => a + Number(r.n), 0);
  const reasons: Record<string, number> = {};
  for (const r of rows)
    if (r.status === 'CANCELLED')
      reasons[r.reason ?? 'none'] = (reasons[r.reason ?? 'none'] ?? 0) + Number(r.n);
  const fs = fleet.stats;
  const unjudged: Unjudged = {
    seed: s.seed,
    mode: s.short ? 'short' : 'full',
    repeat: repeatCommand(s),
    startedAt: new Date(run.t0).toISOString(),
    wallSeconds: Math.round((Date.now() - run.t0) / 1_000),
    chaosSeconds: ran.chaosSeconds,
    out: s.out,
    plan: plan.map(describeEvent),
    orders: {
      placed: accepted.length,
      confirmed: count('CONFIRMED'),
      cancelled: count('CANCELLED'),
      unfinished: rows
        .filter((r) => r.status !== 'CONFIRMED' && r.status !== 'CANCELLED')
        .reduce((a, r) => a + Number(r.n), 0),
      reasons,
      requests: clients.stats.requests,
      noAnswer: clients.stats.noAnswer,
      serverErrors: clients.stats.serverErrors,
      replayed: clients.stats.replayed,
      unexpectedAnswers: clients.stats.unexpected,
    },
    faults: {
      plannedKills: Object.fromEntries(
        SERVICES.map((svc) => [svc, plan.filter((e) => e.kind === 'kill' && e.service === svc).length]),
      ) as Record<ServiceName, number>,
      kills: fs.kills,
      restarts: fs.restarts,
      kafkaRestarts: run.restarts.kafka,
      postgresRestarts: run.restarts.postgres,
      postgresRestartable: infra.pg.restartable,
      instancesAdded: fs.added,
      instancesRemoved: fs.removed,
      unexpectedExits: fs.unexpectedExits,
      failedStarts: fs.failedStarts,
      shutdownHangs: fs.shutdownHangs,
      uncleanShutdowns: fs.uncleanShutdowns,
      errors: run.faultErrors,
    },
    duplicates: ran.duplicator.stats,
    cancelBeforeTry: {
      sent: cancels.count,
      ok: cancelResults.filter((c) => c.ok).length,
      failed: cancelResults.filter((c) => !c.ok),
    },
    badInputs,
    otherDeadLetters: {
      count: others.length,
      examples: others
        .slice(0, 5)
        .map(
          (d) =>
            `${d.topic}/${d.partition}/${d.offset} ${d.headers['x-dlt-error-class']}: ${(d.headers['x-dlt-error-message'] ?? '').slice(0, 160)}`,
        ),
    },
    quiet: { reached: quiet.reached, waitedSeconds: quiet.waitedSeconds, detail: quiet.detail },
    invariants,
  };
  const failures = judge(unjudged);
  return { ...unjudged, failures, ok: failures.length === 0 };
}

/** The invariant checker (apps/invariants) over the run's databases and topics, as JSON. */
export async function checkInvariants(
  run: Run<RunBase>,
  dbs: Record<ServiceName, string>,
  kafka: OwnKafka,
  acceptedFile: string,
): Promise<ChaosSummary['invariants']> {
  const child = spawn(
    process.execPath,
    [
      join(workspaceRoot, 'apps', 'invariants', 'dist', 'main.js'),
      '--order-db',
      dbs.order,
      '--stock-db',
      dbs.stock,
      '--payment-db',
      dbs.payment,
      '--brokers',
      kafka.brokers,
      '--accepted',
      acceptedFile,
      '--wait-quiet',
      '60',
      '--json',
    ],
    // the broker's admin credentials when it is secured; nothing else of this process' environment
    {
      env: { PATH: process.env['PATH'] ?? '', ...kafka.credentials.admin },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  writeFileSync(join(run.s.out, 'invariants.json'), stdout);
  try {
    const report = JSON.parse(stdout) as { results: InvariantResult[] };
    return { exitCode: code, results: report.results };
  } catch {
    return { exitCode: code, results: [], output: `${stdout}\n${stderr}`.trim().slice(0, 4_000) };
  }
}
