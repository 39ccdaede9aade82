import { encodeArrays, pgArray } from './pg-array';

/** node-postgres' own encoding of a parameter (not part of its typed API). */
const { prepareValue } = jest.requireActual<{ prepareValue: (value: unknown) => unknown }>('pg/lib/utils');

describe('pgArray', () => {
  const same: unknown[][] = [
    [],
    ['a'],
    [''],
    ['0190a1b2-0000-7000-8000-000000000001', '0190a1b2-0000-7000-8000-000000000002'],
    ['he said "hi"', 'C:\\path\\to', 'both \\"', '"', '\\'],
    ['comma, brace } { and space', 'NULL', 'null', 'ümlaut 주문 😀'],
    [null, undefined, 'x'],
    [0, -1, 2.5, 1e21, Number.NaN, 12345678901234567890n],
    [true, false],
    ['mixed', 1, null, false],
  ];

  it.each(same.map((a) => [JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)), a]))(
    'encodes %s exactly as node-postgres does',
    (_name, array) => {
      expect(pgArray(array)).toBe(prepareValue(array));
    },
  );

  it('leaves arrays it does not encode to node-postgres', () => {
    const dates = [new Date('2026-12-06T18:00:00Z')];
    const nested = [['a'], ['b']];
    const objects = [{ a: 1 }];
    const buffers = [Buffer.from('x')];
    for (const array of [dates, nested, objects, buffers, ['a', new Date()]])
      expect(pgArray(array)).toBe(array);
  });

  it('encodes only the arrays among a statement parameters', () => {
    const date = new Date();
    expect(encodeArrays(['a', 1, null, ['x', 'y"'], [date], { k: 1 }])).toEqual([
      'a',
      1,
      null,
      '{"x","y\\""}',
      [date],
      { k: 1 },
    ]);
  });
});
