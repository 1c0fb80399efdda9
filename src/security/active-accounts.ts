import type { DataSource } from 'typeorm';

/**
 * Whether a token's user still has an account (an erased one keeps its row, anonymised, and must
 * not be let in). Checked on every request and socket, so an answer is remembered for `ttlMs`; an
 * erasure announced on the bus is forgotten at once on every instance (`forget`), and the TTL bounds
 * how long an instance that missed the announcement can be wrong.
 */
export function createActiveAccounts(dataSource: DataSource, { ttlMs = 10_000, now = Date.now } = {}) {
  const activeUntil = new Map<string, number>();
  return {
    async isActive(userId: string): Promise<boolean> {
      if ((activeUntil.get(userId) ?? 0) > now()) return true;
      const [row] = await dataSource.query(`SELECT deleted_at IS NULL AS active FROM users WHERE id = $1`, [userId]);
      if (!row?.active) {
        activeUntil.delete(userId);
        return false;
      }
      if (activeUntil.size >= 100_000) activeUntil.clear();
      activeUntil.set(userId, now() + ttlMs);
      return true;
    },
    forget(userId: string): void {
      activeUntil.delete(userId);
    },
  };
}

export type ActiveAccounts = ReturnType<typeof createActiveAccounts>;
