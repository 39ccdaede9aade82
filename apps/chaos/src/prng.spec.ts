import { Prng } from './prng';

describe('Prng', () => {
  it('gives the same numbers for the same seed, and other numbers for another', () => {
    const draw = (seed: number) =>
      Array.from(
        { length: 5 },
        (
          (p) => () =>
            p.next()
        )(new Prng(seed)),
      );
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('stays in range', () => {
    const p = new Prng(7);
    for (let i = 0; i < 1_000; i++) {
      const x = p.next();
      expect(x >= 0 && x < 1).toBe(true);
      const n = p.int(3, 5);
      expect([3, 4, 5]).toContain(n);
    }
  });

  it('forks independent streams: one part drawing more does not shift another', () => {
    const a = new Prng(99);
    const b = new Prng(99);
    const clientA = a.fork('client-1');
    a.fork('client-2').next();
    expect(clientA.next()).toBe(b.fork('client-1').next());
    expect(new Prng(99).fork('x').next()).not.toBe(new Prng(99).fork('y').next());
  });

  it('makes version-4-shaped UUIDs', () => {
    const p = new Prng(1);
    for (let i = 0; i < 50; i++)
      expect(p.uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
