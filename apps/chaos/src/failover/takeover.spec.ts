import { groupOffsetsPartition, javaStringHash } from './takeover';

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
