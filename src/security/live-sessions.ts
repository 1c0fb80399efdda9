import type { DataSource } from 'typeorm';
import { rememberYes } from './remembered';

/**
 * Whether a token's session is still signed in (not signed out, not revoked for a reused refresh
 * token, not deleted by retention). Checked on every request and socket that carries a session; a
 * revocation announced on the bus is forgotten at once on every instance (`forget`).
 */
export function createLiveSessions(dataSource: DataSource, options: { ttlMs?: number; max?: number } = {}) {
  const live = rememberYes(async (sessionId: string, userId: string) => {
    const [row] = await dataSource.query(`SELECT revoked_at IS NULL AS live FROM sessions WHERE id = $1 AND user_id = $2`, [sessionId, userId]);
    return Boolean(row?.live);
  }, options);
  return { isLive: (sessionId: string, userId: string) => live.ask(sessionId, userId), forget: (sessionId: string) => live.forget(sessionId) };
}

export type LiveSessions = ReturnType<typeof createLiveSessions>;
