import { Partitioners } from 'kafkajs';
import type { PartitionMetadata } from 'kafkajs';
import { partitioner } from './kafka.client';

function metadata(count: number, leaderless: number[] = []): PartitionMetadata[] {
  return Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
}

describe('partitioner', () => {
  const keys = Array.from({ length: 500 }, (_, i) => (i % 2 ? `product-${i}` : `customer-${i}`));

  it('puts every key where the Java-compatible default partitioner does, asked once or many times', () => {
    const remembered = partitioner();
    const reference = Partitioners.DefaultPartitioner();
    for (const count of [1, 3, 6, 12]) {
      const partitionMetadata = metadata(count);
      for (const key of [...keys, ...keys]) {
        const args = { topic: 't', partitionMetadata, message: { key, value: 'v' } };
        expect([key, count, remembered(args)]).toEqual([key, count, reference(args)]);
      }
    }
  });

  it('follows a change in the partition count and keeps topics apart', () => {
    const remembered = partitioner();
    const reference = Partitioners.DefaultPartitioner();
    const at = (topic: string, count: number, key: string) => ({
      topic,
      partitionMetadata: metadata(count),
      message: { key, value: 'v' },
    });
    const moved = keys.find((key) => reference(at('a', 6, key)) !== reference(at('a', 7, key)));
    expect(moved).toBeDefined();
    const key = moved as string;
    expect(remembered(at('a', 6, key))).toBe(reference(at('a', 6, key)));
    expect(remembered(at('a', 7, key))).toBe(reference(at('a', 7, key)));
    expect(remembered(at('b', 7, key))).toBe(reference(at('b', 7, key)));
  });

  it('leaves an explicit partition, a Buffer key and a keyless message to the default rules', () => {
    const remembered = partitioner();
    const reference = Partitioners.DefaultPartitioner();
    const partitionMetadata = metadata(6, [1, 2, 3, 4, 5]);
    expect(
      remembered({ topic: 't', partitionMetadata, message: { key: 'k', value: 'v', partition: 4 } }),
    ).toBe(4);
    const buffer = { topic: 't', partitionMetadata, message: { key: Buffer.from('product-7'), value: 'v' } };
    expect(remembered(buffer)).toBe(reference(buffer));
    // no key: round robin over the partitions with a leader, here only partition 0
    expect(remembered({ topic: 't', partitionMetadata, message: { value: 'v' } })).toBe(0);
  });
});
