import { groupOffsetsPartition, javaStringHash, laterOf } from './takeover';

describe("a group's partition of the offsets topic, as Kafka places it", () => {
  // each expected value printed by Java 17: s.hashCode() and Utils.abs(s.hashCode()) % 50
  it.each([
    ['tcc-order', 591_080_469, 19],
    ['tcc-stock', 594_844_637, 37],
    ['tcc-payment', 1_513_079_053, 3],
    ['zzzzzzzzzz', -1_580_979_136, 36],
    ['consumer-group-äß', 277_012_096, 46],
    ['polygenelubricants', -2_147_483_648, 0],
    ['', 0, 0],
  ])('%j hashes to %d, partition %d of 50', (group, hash, partition) => {
    expect(javaStringHash(group)).toBe(hash);
    expect(groupOffsetsPartition(group, 50)).toBe(partition);
  });
});

describe('laterOf: where a takeover is counted from once the victim is gone', () => {
  it('takes what was committed by the kill where the victim handled past the ends seen before it', () => {
    const ends = new Map([
      ['t/0', 100n],
      ['t/1', 50n],
    ]);
    const committedAtKill = new Map([
      ['t/0', 104n],
      ['t/1', 40n],
    ]);
    expect(laterOf(ends, committedAtKill)).toEqual(
      new Map([
        ['t/0', 104n],
        ['t/1', 50n],
      ]),
    );
  });

  it('keeps the ends when the committed offsets could not be read', () => {
    const ends = new Map([['t/0', 100n]]);
    expect(laterOf(ends, undefined)).toEqual(ends);
  });
});
