/**
 * Upper bounds (ms) of the latency buckets every instance counts operations into; one more bucket
 * holds everything slower. Fixed buckets let instances' counts be added up, so a cluster-wide p95
 * is computed from all operations, not averaged from per-instance p95s.
 */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

export const emptyBuckets = (): number[] => new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);

export function bucketOf(ms: number): number {
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return index === -1 ? LATENCY_BOUNDS_MS.length : index;
}

export function addBuckets(into: number[], from: readonly number[]): number[] {
  for (let i = 0; i < into.length; i++) into[i] += from[i] ?? 0;
  return into;
}

/**
 * The `q` quantile (0..1) of the counted operations, interpolated linearly inside its bucket; 0 when
 * nothing was counted. Operations slower than the last bound count as that bound.
 */
export function quantile(buckets: readonly number[], q: number): number {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= rank && buckets[i] > 0) {
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1];
      const upper = LATENCY_BOUNDS_MS[i] ?? LATENCY_BOUNDS_MS.at(-1)!;
      return lower + ((upper - lower) * (rank - seen)) / buckets[i];
    }
    seen += buckets[i];
  }
  return LATENCY_BOUNDS_MS.at(-1)!;
}
