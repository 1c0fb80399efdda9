import { runSoak } from '../../bench/soak/soak';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/test-app';

/**
 * One minute of `npm run soak`: two built instances on PostgreSQL + Redis, 2,000 checked subscribers
 * with reconnects, mixed queries and mutations. Nothing lost, doubled or out of order; heap after GC
 * and open descriptors stay bounded. (A 10-minute run's figures are in BENCHMARKS.md.)
 */
it('runs a minute of mixed load on two instances losing no event and leaking nothing', async () => {
  const result = await runSoak({ databaseUrl: TEST_DATABASE_URL, redisUrl: TEST_REDIS_URL, minutes: 1, log: () => undefined });
  const { samples: _samples, ...summary } = result;
  console.log(JSON.stringify(summary));
  expect(result.subscribers).toBe(2_000);
  expect(result.sent).toBeGreaterThan(1_000);
  expect(result.reconnects).toBeGreaterThan(0);
  expect({ lost: result.lost, gaps: result.gaps, duplicates: result.duplicates, resyncs: result.resyncs }).toEqual({ lost: 0, gaps: 0, duplicates: 0, resyncs: 0 });
  expect(result.failedRequests).toBe(0);
  expect(result.heapBounded).toBe(true);
  expect(result.fdsBounded).toBe(true);
}, 170_000);
