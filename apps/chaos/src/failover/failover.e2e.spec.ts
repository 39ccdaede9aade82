import { runForSummary } from '../e2e-run';
import type { FailoverSummary } from './report';

/**
 * The short failover run as CI runs it: a three-broker Kafka cluster and two instances of every
 * service of its own, under load, an order, a stock and a payment instance and then the broker
 * coordinating the most consumer groups SIGKILLed one after another. A new seed each time
 * (FAILOVER_SEED repeats one); the seed is in every failure message, and
 * `./dev failover --short --seed N` repeats it.
 */
const FAULTS = ['order', 'stock', 'payment', 'broker'];
describe('the short failover run', () => {
  const seed = process.env['FAILOVER_SEED'] ?? String(Math.floor(Math.random() * 2_147_483_647) + 1);
  let summary: FailoverSummary;
  let exitCode: number | null;

  beforeAll(async () => {
    ({ exitCode, summary } = await runForSummary<FailoverSummary>(
      'failover',
      'failover/main.js',
      ['--short', '--faults', FAULTS.join(',')],
      seed,
    ));
  }, 900_000);

  it('passes: no order cancelled by TIMEOUT, every order final, every invariant held', () => {
    expect({ seed, exitCode, failures: summary.failures }).toEqual({ seed, exitCode: 0, failures: [] });
    expect({ seed, timeouts: summary.total.timeouts, unfinished: summary.total.unfinished }).toEqual({
      seed,
      timeouts: 0,
      unfinished: 0,
    });
    expect({ seed, invariants: summary.invariants }).toEqual({
      seed,
      invariants: { exitCode: 0, failed: [] },
    });
  });

  it("killed an order, a stock and a payment instance and a broker, and each one's partitions were taken over", () => {
    expect(summary.faults.map((f) => f.kind)).toEqual(FAULTS);
    for (const f of summary.faults) {
      expect({ seed, fault: f.victim, error: f.error, stuck: f.takeover.stuck }).toEqual({
        seed,
        fault: f.victim,
        error: undefined,
        stuck: [],
      });
      expect({ seed, fault: f.victim, watched: f.takeovers.length > 0 }).toEqual({
        seed,
        fault: f.victim,
        watched: true,
      });
    }
  });

  it('spread the load over both order instances, and both confirmed orders', () => {
    expect(summary.perInstance).toHaveLength(2);
    for (const w of summary.perInstance)
      expect({ seed, confirmed: w.confirmed > 0 }).toEqual({ seed, confirmed: true });
  });
});
