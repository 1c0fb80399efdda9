import type { DataSource } from 'typeorm';
import { rememberYes } from './remembered';

/**
 * Whether a token's user still has an account (an erased one keeps its row, anonymised, and must
 * not be let in). Checked on every request and socket; an erasure announced on the bus is
 * forgotten at once on every instance (`forget`).
 */
export function createActiveAccounts(dataSource: DataSource, options: { ttlMs?: number; max?: number } = {}) {
  const active = rememberYes(async (userId: string) => {
    const [row] = await dataSource.query(`SELECT deleted_at IS NULL AS active FROM users WHERE id = $1`, [userId]);
    return Boolean(row?.active);
  }, options);
  return { isActive: (userId: string) => active.ask(userId), forget: (userId: string) => active.forget(userId) };
}

export type ActiveAccounts = ReturnType<typeof createActiveAccounts>;
