import { describeEvent, HTTP_BAD_INPUTS, KAFKA_BAD_INPUTS, planFaults, SERVICES } from './plan';
import type { FaultEvent } from './plan';
import { Prng } from './prng';

const options = {
  durationMs: 60_000,
  killsPerService: 2,
  cancelBeforeTryBatches: 2,
  cancelBeforeTryPerBatch: 3,
};

describe('planFaults', () => {
  it('is the same plan for the same seed', () => {
    expect(planFaults(new Prng(5), options)).toEqual(planFaults(new Prng(5), options));
    expect(planFaults(new Prng(5), options)).not.toEqual(planFaults(new Prng(6), options));
  });

  it.each([1, 2, 3, 1234567])('seed %i: every kind of fault, inside the run, in time order', (seed) => {
    const plan = planFaults(new Prng(seed), options);
    const of = <K extends FaultEvent['kind']>(kind: K) =>
      plan.filter((e): e is Extract<FaultEvent, { kind: K }> => e.kind === kind);
    for (const service of SERVICES) expect(of('kill').filter((e) => e.service === service)).toHaveLength(2);
    expect(of('kafka-restart')).toHaveLength(1);
    expect(of('postgres-restart')).toHaveLength(1);
    expect(
      of('add-instance')
        .map((e) => e.service)
        .sort(),
    ).toEqual(['payment', 'stock']);
    expect(
      of('remove-instance')
        .map((e) => e.service)
        .sort(),
    ).toEqual(['payment', 'stock']);
    expect(
      of('bad-input')
        .map((e) => e.input)
        .sort(),
    ).toEqual([...KAFKA_BAD_INPUTS, ...HTTP_BAD_INPUTS].sort());
    expect(of('cancel-before-try').map((e) => e.count)).toEqual([3, 3]);
    expect(plan.map((e) => e.at)).toEqual([...plan.map((e) => e.at)].sort((a, b) => a - b));
    expect(plan.every((e) => e.at > 0 && e.at < options.durationMs)).toBe(true);
  });

  it('keeps Kafka and PostgreSQL restarts apart, and adds an instance before removing one', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const plan = planFaults(new Prng(seed), options);
      const at = (kind: string, service?: string) =>
        plan.find((e) => e.kind === kind && (!service || ('service' in e && e.service === service)))?.at ??
        NaN;
      expect(at('postgres-restart') - at('kafka-restart')).toBeGreaterThanOrEqual(0.15 * options.durationMs);
      for (const service of ['stock', 'payment'])
        expect(at('remove-instance', service)).toBeGreaterThan(at('add-instance', service));
    }
  });

  it("spreads one service's kills over the run", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const kills = planFaults(new Prng(seed), { ...options, killsPerService: 3 }).filter(
        (e) => e.kind === 'kill' && e.service === 'stock',
      );
      const slot = (0.85 * options.durationMs) / 3;
      kills.forEach((k, i) => {
        expect(k.at).toBeGreaterThanOrEqual(0.05 * options.durationMs + i * slot - 1);
        expect(k.at).toBeLessThanOrEqual(0.05 * options.durationMs + (i + 1) * slot + 1);
      });
    }
  });

  it('describes each event in one line', () => {
    expect(describeEvent({ at: 12_345, kind: 'kill', service: 'stock', victim: 1, downMs: 500 })).toBe(
      '12.3s SIGKILL stock (down 500 ms)',
    );
    expect(describeEvent({ at: 1_000, kind: 'bad-input', input: 'oversized' })).toBe(
      '1.0s bad input: oversized',
    );
  });
});
