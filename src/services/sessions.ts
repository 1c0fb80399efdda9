import { createHash, randomBytes } from 'node:crypto';
import { UnauthenticatedError } from '../errors';
import { Topic } from '../events/topics';
import { commitChange, type Change, type ChangeDeps } from './changes';

/** What a sign-in or a refresh hands the client besides its access token. */
export interface SessionGrant {
  userId: string;
  sessionId: string;
  /** Opaque, 256 random bits; only its SHA-256 is stored. */
  refreshToken: string;
}

const newRefreshToken = () => randomBytes(32).toString('base64url');
const hashOf = (token: string) => createHash('sha256').update(token).digest();

/** Starts a session for a signed-in user: its first refresh token, valid for `ttlMs` unless refreshed. */
export async function startSession(deps: ChangeDeps, userId: string, ttlMs: number): Promise<SessionGrant> {
  const refreshToken = newRefreshToken();
  const [row] = await deps.dataSource.query(
    `WITH session AS (INSERT INTO sessions (user_id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond') RETURNING id)
     INSERT INTO refresh_tokens (hash, session_id) SELECT $3, id FROM session RETURNING session_id`,
    [userId, ttlMs, hashOf(refreshToken)],
  );
  return { userId, sessionId: row.session_id, refreshToken };
}

type Refreshed = { grant: SessionGrant } | { refused: string };

/**
 * Rotates a refresh token: the one presented is spent, a new one is handed out, and the session's
 * expiry moves to `ttlMs` from now. A token presented again after it was spent — by whoever copied
 * it, or by its owner after the copy was used — revokes the whole session, so neither holder keeps
 * it. Two refreshes racing with one token count as a reuse too: the client must send one at a time.
 * A refusal is UNAUTHENTICATED, after the revocation it causes has committed.
 */
export async function refreshSession(deps: ChangeDeps, refreshToken: string, ttlMs: number): Promise<SessionGrant> {
  const presented = hashOf(refreshToken);
  const outcome = await commitChange<Refreshed>(deps, async (change) => {
    // The session, then the token: the order retention's delete takes them in (a session, then its
    // tokens by cascade), so the two never wait for each other in a circle.
    const [token] = await change.manager.query(`SELECT session_id FROM refresh_tokens WHERE hash = $1`, [presented]);
    const [session] = token
      ? await change.manager.query(
          `SELECT s.id AS session_id, s.user_id, s.revoked_at, s.expires_at <= now() AS expired, u.deleted_at
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 FOR UPDATE OF s`,
          [token.session_id],
        )
      : [];
    const [spent] = session ? await change.manager.query(`SELECT replaced_at FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, [presented]) : [];
    const found = session && spent ? { ...session, replaced_at: spent.replaced_at } : undefined;
    if (!found || found.deleted_at) return { refused: 'The refresh token is not valid: sign in again.' };
    if (found.revoked_at) return { refused: 'This session was signed out: sign in again.' };
    if (found.expired) return { refused: 'This session has expired: sign in again.' };
    if (found.replaced_at) {
      await revoke(change, `id = $1`, [found.session_id], 'refresh token reused');
      return { refused: 'This refresh token was already used, so the session is revoked: sign in again.' };
    }
    const next = newRefreshToken();
    await change.manager.query(`UPDATE refresh_tokens SET replaced_at = now() WHERE hash = $1`, [presented]);
    await change.manager.query(`INSERT INTO refresh_tokens (hash, session_id) VALUES ($1, $2)`, [hashOf(next), found.session_id]);
    await change.manager.query(`UPDATE sessions SET expires_at = now() + $2 * interval '1 millisecond' WHERE id = $1`, [found.session_id, ttlMs]);
    return { grant: { userId: found.user_id, sessionId: found.session_id, refreshToken: next } };
  });
  if ('refused' in outcome) throw new UnauthenticatedError(outcome.refused);
  return outcome.grant;
}

/** Signs one session out. True if it was live. */
export async function revokeSession(deps: ChangeDeps, sessionId: string, reason: string): Promise<boolean> {
  return commitChange(deps, async (change) => (await revoke(change, `id = $1`, [sessionId], reason)) > 0);
}

/** Every live session of a user, revoked in `change` (an erasure). */
export async function revokeSessionsOf(change: Change, userId: string, reason: string): Promise<number> {
  return revoke(change, `user_id = $1`, [userId], reason);
}

async function revoke(change: Change, where: string, params: unknown[], reason: string): Promise<number> {
  // TypeORM answers an UPDATE with [rows, count].
  const [rows]: [{ id: string; user_id: string }[], number] = await change.manager.query(
    `UPDATE sessions SET revoked_at = now(), revoked_reason = $${params.length + 1} WHERE ${where} AND revoked_at IS NULL RETURNING id, user_id`,
    [...params, reason],
  );
  for (const row of rows) change.publish(Topic.sessionRevoked(), { sessionId: row.id, userId: row.user_id });
  return rows.length;
}
