import { addBuckets, bucketOf, emptyBuckets, quantile } from './latency-buckets';

describe('latency buckets', () => {
  it('puts each latency in the first bucket whose bound holds it', () => {
    expect([0, 5, 6, 10_000, 10_001].map(bucketOf)).toEqual([0, 0, 1, 10, 11]);
  });

  it('computes a p95 across instances from their added-up counts', () => {
    const fast = emptyBuckets();
    fast[bucketOf(3)] = 95; // 95 operations of ≤ 5 ms on one instance
    const slow = emptyBuckets();
    slow[bucketOf(400)] = 5; // 5 of 250..500 ms on another
    const cluster = addBuckets(addBuckets(emptyBuckets(), fast), slow);
    expect(quantile(cluster, 0.95)).toBe(5);
    expect(quantile(cluster, 0.99)).toBeCloseTo(250 + 250 * (4 / 5));
    expect(quantile(emptyBuckets(), 0.95)).toBe(0);
  });
});
