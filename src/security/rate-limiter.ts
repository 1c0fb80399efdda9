import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateVerdict {
  allowed: boolean;
  /** When the caller may try again, in ms (0 when allowed). */
  retryAfterMs: number;
}

/** Fixed-window counters: `consume` spends one call of `max` per window for `key`, atomically. */
export interface RateLimiter {
  consume(key: string, max: number, windowMs: number): Promise<RateVerdict>;
}

/**
 * rate-limiter-flexible behind Parley's own small interface; one limiter per (max, window) pair.
 * Windows are whole seconds, as the library counts them.
 */
function adapt(create: (points: number, duration: number) => RateLimiterAbstract): RateLimiter {
  const limiters = new Map<string, RateLimiterAbstract>();
  return {
    async consume(key, max, windowMs) {
      const shape = `${max}/${windowMs}`;
      let limiter = limiters.get(shape);
      if (!limiter) limiters.set(shape, (limiter = create(max, windowMs / 1000)));
      try {
        await limiter.consume(`${shape}:${key}`);
        return { allowed: true, retryAfterMs: 0 };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return { allowed: false, retryAfterMs: rejection.msBeforeNext };
        throw rejection;
      }
    },
  };
}

/** Single-instance mode: counters in this process. */
export function createMemoryRateLimiter(): RateLimiter {
  return adapt((points, duration) => new RateLimiterMemory({ points, duration }));
}

/**
 * Cluster mode: counters in Redis, shared by every instance (an atomic INCR + expiry per call). While
 * Redis is unreachable each instance falls back to counting in memory rather than refusing or
 * waiting: limits then hold per instance until Redis is back.
 */
export function createRedisRateLimiter(redis: Redis | Cluster, keyPrefix: string): RateLimiter {
  return adapt(
    (points, duration) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${keyPrefix}rate`,
        points,
        duration,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ points, duration }),
      }),
  );
}
