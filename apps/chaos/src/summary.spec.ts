import { HTTP_BAD_INPUTS, KAFKA_BAD_INPUTS } from './plan';
import { formatSummary, judge } from './summary';
import type { Unjudged } from './summary';

function passing(): Unjudged {
  const kinds = [...KAFKA_BAD_INPUTS, ...HTTP_BAD_INPUTS];
  return {
    seed: 7,
    mode: 'short',
    repeat: './dev chaos --seed 7 --short',
    startedAt: '2026-01-01T00:00:00.000Z',
    wallSeconds: 100,
    chaosSeconds: 60,
    out: '/tmp/x',
    plan: [],
    orders: {
      placed: 10,
      confirmed: 7,
      cancelled: 3,
      unfinished: 0,
      reasons: { OUT_OF_STOCK: 3 },
      requests: 10,
      noAnswer: 2,
      serverErrors: 1,
      replayed: 0,
      unexpectedAnswers: [],
    },
    faults: {
      plannedKills: { order: 1, stock: 1, payment: 1 },
      kills: { order: 1, stock: 1, payment: 1 },
      restarts: { order: 1, stock: 1, payment: 1 },
      kafkaRestarts: 1,
      postgresRestarts: 1,
      postgresRestartable: true,
      instancesAdded: ['stock#3', 'payment#3'],
      instancesRemoved: ['stock#1', 'payment#2'],
      unexpectedExits: [],
      failedStarts: 0,
      shutdownHangs: [],
      uncleanShutdowns: [],
      errors: [],
    },
    duplicates: { orders: 2, published: 5 },
    cancelBeforeTry: { sent: 3, ok: 3, failed: [] },
    badInputs: kinds.map((kind) => ({ kind, target: 't', expected: 'e', got: 'g', ok: true })),
    otherDeadLetters: { count: 0, examples: [] },
    quiet: { reached: true, waitedSeconds: 5, detail: 'd' },
    invariants: {
      exitCode: 0,
      results: [1, 2, 3, 4, 5, 6, 7].map((id) => ({ id, name: `check ${id}`, checked: 3, violations: [] })),
    },
  };
}

describe('judge', () => {
  it('passes a run where every fault happened and every check held', () => {
    expect(judge(passing())).toEqual([]);
    expect(formatSummary({ ...passing(), failures: [], ok: true })).toContain('CHAOS RUN PASSED (seed 7)');
  });

  it('fails a run for each thing that went wrong, naming it', () => {
    const s = passing();
    s.invariants = {
      exitCode: 1,
      results: [{ id: 1, name: 'products', checked: 3, violations: ['product p: available -1 < 0'] }],
    };
    s.badInputs[4] = {
      kind: 'oversized',
      target: 'tcc.stock.commands',
      expected: 'dead letter',
      got: 'nothing',
      ok: false,
    };
    s.faults.kills.stock = 0;
    s.faults.kafkaRestarts = 0;
    s.faults.instancesRemoved = ['stock#1'];
    s.faults.unexpectedExits = ['payment#2'];
    s.cancelBeforeTry = {
      sent: 1,
      ok: 0,
      failed: [{ orderId: 'o', ok: false, stock: ['StockReserved'], payment: [] }],
    };
    s.orders.cancelled = 0;
    s.quiet.reached = false;
    expect(judge(s)).toEqual([
      'invariant checker exited 1',
      'invariant 1 (products): 1 violation(s), e.g. product p: available -1 < 0',
      'the system did not become quiet: d',
      'bad input oversized (tcc.stock.commands) did not get its treatment: expected dead letter, got nothing',
      'cancel before try for o: stock said StockReserved; payment said nothing',
      'stock was killed 0 time(s), planned 1',
      'Kafka was not restarted',
      'instances removed: stock#1 (want one stock, one payment)',
      'payment#2 exited without being killed',
      'no order was cancelled',
    ]);
    expect(formatSummary({ ...s, failures: judge(s), ok: false })).toContain(
      'repeat it with: ./dev chaos --seed 7 --short',
    );
  });

  it('does not ask for a PostgreSQL restart when the server was given (--postgres-url)', () => {
    const s = passing();
    s.faults.postgresRestarts = 0;
    expect(judge(s)).toEqual(['PostgreSQL was not restarted']);
    s.faults.postgresRestartable = false;
    expect(judge(s)).toEqual([]);
  });

  it('fails when a kind of bad input was never sent, or a check was skipped', () => {
    const s = passing();
    s.badInputs = s.badInputs.filter((b) => b.kind !== 'unknown-type');
    s.invariants.results[5] = {
      id: 6,
      name: 'accepted',
      checked: 0,
      violations: [],
      skipped: 'no --accepted file',
    };
    expect(judge(s)).toEqual([
      'invariant 6 was skipped: no --accepted file',
      'bad input unknown-type was never sent',
    ]);
  });
});
