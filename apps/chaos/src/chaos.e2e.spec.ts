import { runForSummary } from './e2e-run';
import { HTTP_BAD_INPUTS, KAFKA_BAD_INPUTS, SERVICES } from './plan';
import type { ChaosSummary } from './summary';

/**
 * The short chaos run (`./dev chaos --short --secure`) as CI runs it: its own Kafka (secured: each
 * service with its own credentials and ACLs) and PostgreSQL, the services as processes, every kind
 * of fault at least once. A new seed each time (CHAOS_SEED repeats one); the seed is in every
 * failure message, and `./dev chaos --short --secure --seed N` repeats the run.
 */
describe('the short chaos run', () => {
  const seed = process.env['CHAOS_SEED'] ?? String(Math.floor(Math.random() * 2_147_483_647) + 1);
  let summary: ChaosSummary;
  let exitCode: number | null;

  beforeAll(async () => {
    ({ exitCode, summary } = await runForSummary<ChaosSummary>(
      'chaos',
      'main.js',
      ['--short', '--secure'],
      seed,
    ));
  }, 600_000);

  it(`passes, with nothing to report`, () => {
    expect({ seed, exitCode, failures: summary.failures }).toEqual({ seed, exitCode: 0, failures: [] });
  });

  it('killed and restarted every service, restarted Kafka and PostgreSQL, added and removed instances', () => {
    const f = summary.faults;
    for (const service of SERVICES) {
      expect({ seed, service, killed: f.kills[service] >= 1 }).toEqual({ seed, service, killed: true });
      expect({ seed, service, restarts: f.restarts[service] }).toEqual({
        seed,
        service,
        restarts: f.kills[service],
      });
    }
    expect({ seed, kafka: f.kafkaRestarts, postgres: f.postgresRestarts }).toEqual({
      seed,
      kafka: 1,
      postgres: 1,
    });
    for (const list of [f.instancesAdded, f.instancesRemoved])
      expect({ seed, services: list.map((id) => id.split('#')[0]).sort() }).toEqual({
        seed,
        services: ['payment', 'stock'],
      });
    expect({ seed, unexpectedExits: f.unexpectedExits, shutdownHangs: f.shutdownHangs }).toEqual({
      seed,
      unexpectedExits: [],
      shutdownHangs: [],
    });
  });

  it('published duplicates and cancels before tries, and each cancel-before-try was handled as documented', () => {
    expect({ seed, duplicated: summary.duplicates.published > 0 }).toEqual({ seed, duplicated: true });
    expect({ seed, sent: summary.cancelBeforeTry.sent > 0, failed: summary.cancelBeforeTry.failed }).toEqual({
      seed,
      sent: true,
      failed: [],
    });
  });

  it('gave every kind of bad input its documented treatment', () => {
    const kinds = [...new Set(summary.badInputs.map((b) => b.kind))].sort();
    expect(kinds).toEqual([...KAFKA_BAD_INPUTS, ...HTTP_BAD_INPUTS, 'no-credentials'].sort());
    expect({ seed, mistreated: summary.badInputs.filter((b) => !b.ok) }).toEqual({ seed, mistreated: [] });
  });

  it('confirmed some orders and cancelled others, left none unfinished, and every invariant held', () => {
    const o = summary.orders;
    expect({
      seed,
      confirmed: o.confirmed > 0,
      cancelled: o.cancelled > 0,
      unfinished: o.unfinished,
    }).toEqual({
      seed,
      confirmed: true,
      cancelled: true,
      unfinished: 0,
    });
    expect(summary.invariants.exitCode).toBe(0);
    expect(
      summary.invariants.results.map((r) => ({ id: r.id, violations: r.violations, skipped: r.skipped })),
    ).toEqual([1, 2, 3, 4, 5, 6, 7].map((id) => ({ id, violations: [], skipped: undefined })));
    for (const r of summary.invariants.results)
      expect({ id: r.id, checked: r.checked > 0 }).toEqual({ id: r.id, checked: true });
  });
});
