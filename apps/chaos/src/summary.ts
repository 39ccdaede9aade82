import type { CancelBeforeTryResult } from './cancel-before-try';
import type { Treatment } from './bad-inputs';
import { HTTP_BAD_INPUTS, KAFKA_BAD_INPUTS } from './plan';
import type { ServiceName } from './plan';

export interface InvariantResult {
  id: number;
  name: string;
  checked: number;
  violations: string[];
  skipped?: string;
}

export interface ChaosSummary {
  seed: number;
  mode: 'short' | 'full';
  /** the command that repeats this run */
  repeat: string;
  startedAt: string;
  wallSeconds: number;
  chaosSeconds: number;
  out: string;
  plan: string[];
  orders: {
    /** accepted by POST /orders (202) */
    placed: number;
    confirmed: number;
    cancelled: number;
    /** not CONFIRMED or CANCELLED at the end */
    unfinished: number;
    /** why the cancelled ones were cancelled */
    reasons: Record<string, number>;
    requests: number;
    /** attempts sent again because the first got no answer or a 5xx */
    noAnswer: number;
    serverErrors: number;
    replayed: number;
    unexpectedAnswers: string[];
  };
  faults: {
    plannedKills: Record<ServiceName, number>;
    kills: Record<ServiceName, number>;
    restarts: Record<ServiceName, number>;
    kafkaRestarts: number;
    postgresRestarts: number;
    /** false with --postgres-url: that server is not the run's to restart */
    postgresRestartable: boolean;
    instancesAdded: string[];
    instancesRemoved: string[];
    unexpectedExits: string[];
    failedStarts: number;
    /** instances that did not exit after SIGTERM within their shutdown timeout */
    shutdownHangs: string[];
    /** instances that exited non-zero after SIGTERM, within its bound: reported, not a failure */
    uncleanShutdowns: string[];
    /** faults that could not be carried out, and why */
    errors: string[];
  };
  duplicates: { orders: number; published: number };
  cancelBeforeTry: { sent: number; ok: number; failed: CancelBeforeTryResult[] };
  badInputs: Treatment[];
  /** dead letters that are not the run's bad inputs (commands or replies given up on) */
  otherDeadLetters: { count: number; examples: string[] };
  quiet: { reached: boolean; waitedSeconds: number; detail: string };
  invariants: { exitCode: number | null; results: InvariantResult[]; output?: string };
  failures: string[];
  ok: boolean;
}

export type Unjudged = Omit<ChaosSummary, 'failures' | 'ok'>;

/** Everything that makes a run fail; an empty list means it passed. */
export function judge(s: Unjudged): string[] {
  const f: string[] = [];
  if (s.invariants.exitCode !== 0) f.push(`invariant checker exited ${s.invariants.exitCode}`);
  for (const r of s.invariants.results)
    if (r.violations.length > 0)
      f.push(`invariant ${r.id} (${r.name}): ${r.violations.length} violation(s), e.g. ${r.violations[0]}`);
  for (const r of s.invariants.results) if (r.skipped) f.push(`invariant ${r.id} was skipped: ${r.skipped}`);
  if (!s.quiet.reached) f.push(`the system did not become quiet: ${s.quiet.detail}`);
  for (const t of s.badInputs.filter((b) => !b.ok))
    f.push(
      `bad input ${t.kind} (${t.target}) did not get its treatment: expected ${t.expected}, got ${t.got}`,
    );
  for (const kind of [...KAFKA_BAD_INPUTS, ...HTTP_BAD_INPUTS])
    if (!s.badInputs.some((b) => b.kind === kind)) f.push(`bad input ${kind} was never sent`);
  for (const c of s.cancelBeforeTry.failed)
    f.push(
      `cancel before try for ${c.orderId}: stock said ${c.stock.join(', ') || 'nothing'}; payment said ${c.payment.join(', ') || 'nothing'}`,
    );
  if (s.cancelBeforeTry.sent === 0) f.push('no cancel before try was sent');
  for (const service of Object.keys(s.faults.plannedKills) as ServiceName[]) {
    if (s.faults.kills[service] < s.faults.plannedKills[service])
      f.push(
        `${service} was killed ${s.faults.kills[service]} time(s), planned ${s.faults.plannedKills[service]}`,
      );
    if (s.faults.restarts[service] < s.faults.kills[service])
      f.push(
        `${service} was restarted ${s.faults.restarts[service]} time(s) after ${s.faults.kills[service]} kill(s)`,
      );
  }
  if (s.faults.kafkaRestarts < 1) f.push('Kafka was not restarted');
  if (s.faults.postgresRestartable && s.faults.postgresRestarts < 1) f.push('PostgreSQL was not restarted');
  if (s.faults.instancesAdded.length < 2)
    f.push(`instances added: ${s.faults.instancesAdded.join(', ') || 'none'} (want one stock, one payment)`);
  if (s.faults.instancesRemoved.length < 2)
    f.push(
      `instances removed: ${s.faults.instancesRemoved.join(', ') || 'none'} (want one stock, one payment)`,
    );
  for (const e of s.faults.errors) f.push(`fault not carried out: ${e}`);
  for (const id of s.faults.unexpectedExits) f.push(`${id} exited without being killed`);
  for (const id of s.faults.shutdownHangs)
    f.push(`${id} did not exit after SIGTERM within its shutdown timeout`);
  for (const u of s.orders.unexpectedAnswers) f.push(`unexpected answer to a valid order: ${u}`);
  if (s.duplicates.published === 0) f.push('no command was duplicated');
  if (s.orders.confirmed === 0) f.push('no order was confirmed');
  if (s.orders.cancelled === 0) f.push('no order was cancelled');
  if (s.orders.unfinished > 0) f.push(`${s.orders.unfinished} order(s) never reached CONFIRMED or CANCELLED`);
  return f;
}

const pad = (s: string, n: number) => s.padEnd(n);

/** The summary for people. */
export function formatSummary(s: ChaosSummary): string {
  const lines: string[] = [];
  const svc = (r: Record<ServiceName, number>) => `order ${r.order}, stock ${r.stock}, payment ${r.payment}`;
  lines.push(
    '',
    `chaos run summary (seed ${s.seed}, ${s.mode}, ${s.chaosSeconds} s of chaos, ${s.wallSeconds} s in all)`,
  );
  lines.push(
    `  orders       ${s.orders.placed} placed: ${s.orders.confirmed} confirmed, ${s.orders.cancelled} cancelled` +
      `${s.orders.unfinished ? `, ${s.orders.unfinished} UNFINISHED` : ''} (${Object.entries(s.orders.reasons)
        .map(([r, n]) => `${r} ${n}`)
        .join(', ')})`,
  );
  lines.push(
    `  requests     ${s.orders.requests} orders sent; ${s.orders.noAnswer} attempts without an answer and ${s.orders.serverErrors} 5xx sent again; ${s.orders.replayed} answered as replays`,
  );
  lines.push(`  kills        ${svc(s.faults.kills)} (SIGKILL); restarts ${svc(s.faults.restarts)}`);
  lines.push(
    `  infra        Kafka restarted ${s.faults.kafkaRestarts}x, PostgreSQL restarted ${s.faults.postgresRestarts}x${s.faults.postgresRestartable ? '' : ' (given server: not restarted)'}`,
  );
  lines.push(
    `  rebalances   added ${s.faults.instancesAdded.join(', ') || 'none'}; removed ${s.faults.instancesRemoved.join(', ') || 'none'}; ${s.faults.failedStarts} start(s) tried again`,
  );
  if (s.faults.uncleanShutdowns.length > 0)
    lines.push(`  note         ${s.faults.uncleanShutdowns.join('; ')} (bounded by SHUTDOWN_TIMEOUT_MS)`);
  lines.push(
    `  duplicates   ${s.duplicates.published} commands of ${s.duplicates.orders} orders published twice`,
  );
  lines.push(
    `  cancel<try   ${s.cancelBeforeTry.ok}/${s.cancelBeforeTry.sent} refused the late try (empty rollback, ALREADY_CANCELLED)`,
  );
  lines.push(
    `  bad inputs   ${s.badInputs.filter((b) => b.ok).length}/${s.badInputs.length} got their treatment:`,
  );
  for (const b of s.badInputs)
    lines.push(
      `    ${b.ok ? 'ok  ' : 'FAIL'} ${pad(b.kind, 22)} ${pad(b.target, 44)} ${b.ok ? b.got : `expected ${b.expected}; got ${b.got}`}`,
    );
  lines.push(
    `  dead letters ${s.otherDeadLetters.count} besides the bad inputs${s.otherDeadLetters.examples.map((e) => `\n    ${e}`).join('')}`,
  );
  lines.push(
    `  quiet        ${s.quiet.reached ? 'reached' : 'NOT reached'} after ${s.quiet.waitedSeconds} s (${s.quiet.detail})`,
  );
  lines.push(`  invariants   checker exit ${s.invariants.exitCode}`);
  for (const r of s.invariants.results)
    lines.push(
      `    ${r.violations.length === 0 && !r.skipped ? 'ok  ' : 'FAIL'} ${r.id}. ${r.name} (checked ${r.checked})${r.violations
        .slice(0, 5)
        .map((v) => `\n           - ${v}`)
        .join('')}`,
    );
  lines.push(`  logs         ${s.out}`);
  if (s.ok) lines.push('', `CHAOS RUN PASSED (seed ${s.seed})`);
  else {
    lines.push('', `CHAOS RUN FAILED (seed ${s.seed}): ${s.failures.length} problem(s)`);
    for (const f of s.failures) lines.push(`  - ${f}`);
    lines.push(`repeat it with: ${s.repeat}`);
  }
  return `${lines.join('\n')}\n`;
}
