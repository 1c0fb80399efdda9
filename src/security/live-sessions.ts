import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';

/**
 * Whether a token's session is still signed in. Checked on every request and socket that carries
 * a session, so a live session is remembered for `ttlMs`, in an LRU of at most `max` sessions. A
 * revocation announced on the bus is forgotten at once on every instance (`forget`); the TTL bounds
 * how long an instance that missed the announcement can let a signed-out token in.
 */
export function createLiveSessions(dataSource: DataSource, { ttlMs = 10_000, max = 100_000 }: { ttlMs?: number; max?: number } = {}) {
  const live = new LRUCache<string, true>({ max, ttl: ttlMs });
  return {
    async isLive(sessionId: string, userId: string): Promise<boolean> {
      if (live.get(sessionId)) return true;
      const [row] = await dataSource.query(`SELECT revoked_at IS NULL AS live FROM sessions WHERE id = $1 AND user_id = $2`, [sessionId, userId]);
      if (!row?.live) return false;
      live.set(sessionId, true);
      return true;
    },
    forget(sessionId: string): void {
      live.delete(sessionId);
    },
  };
}

export type LiveSessions = ReturnType<typeof createLiveSessions>;
