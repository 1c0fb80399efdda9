import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';

/**
 * Whether a token's user still has an account (an erased one keeps its row, anonymised, and must
 * not be let in). Checked on every request and socket, so an active account is remembered for
 * `ttlMs`, in an LRU of at most `max` accounts: a full cache forgets its least recent accounts one
 * by one, never all at once (which would send a burst of reads to PostgreSQL). An erasure announced
 * on the bus is forgotten at once on every instance (`forget`); the TTL bounds how long an instance
 * that missed the announcement can be wrong.
 */
export function createActiveAccounts(dataSource: DataSource, { ttlMs = 10_000, max = 100_000 }: { ttlMs?: number; max?: number } = {}) {
  const active = new LRUCache<string, true>({ max, ttl: ttlMs });
  return {
    async isActive(userId: string): Promise<boolean> {
      if (active.get(userId)) return true;
      const [row] = await dataSource.query(`SELECT deleted_at IS NULL AS active FROM users WHERE id = $1`, [userId]);
      if (!row?.active) return false;
      active.set(userId, true);
      return true;
    },
    forget(userId: string): void {
      active.delete(userId);
    },
  };
}

export type ActiveAccounts = ReturnType<typeof createActiveAccounts>;
