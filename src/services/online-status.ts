import type { DataSource } from 'typeorm';
import { Topic } from '../events/topics';
import { announce, type ChangeDeps } from './changes';

/**
 * A user's first connection anywhere opened: tell presence subscribers, and record it, so that a
 * change's transaction knows whom it finds offline (outbound webhooks name them). Recording is
 * best-effort: presence itself lives in the presence store.
 */
export function announceOnline(deps: ChangeDeps, userId: string): void {
  const at = new Date();
  announce(deps, Topic.presence(), { userId, online: true, at: at.toISOString() });
  recordPresence(deps.dataSource, [userId], true, at).catch((error: unknown) => deps.logger.warn({ err: error, userId }, 'could not record presence'));
}

/**
 * Users went offline (last connection closed, or their instance died): tell presence subscribers,
 * then record when. Announcing first keeps announcements in the order presence decided them: a
 * reload's "offline" must not overtake its "online" while waiting for the database.
 */
export async function announceOffline(deps: ChangeDeps, userIds: string[], at: Date = new Date()): Promise<void> {
  for (const userId of userIds) announce(deps, Topic.presence(), { userId, online: false, at: at.toISOString() });
  await recordPresence(deps.dataSource, userIds, false, at);
}

/**
 * Records presence changes, each with the time presence decided it: a change that reaches the
 * database after a later one (a reload's "offline" after its "online") does not overwrite it.
 * Going offline also sets `User.lastSeenAt`; an erased account keeps none.
 */
export async function recordPresence(dataSource: DataSource, userIds: string[], online: boolean, at: Date): Promise<void> {
  await dataSource.query(
    `WITH seen AS (
       UPDATE users SET last_seen_at = $3 WHERE NOT $2 AND id = ANY ($1::uuid[]) AND deleted_at IS NULL
     )
     INSERT INTO user_presence (user_id, online, changed_at)
       SELECT u.id, $2, $3 FROM users u WHERE u.id = ANY ($1::uuid[])
     ON CONFLICT (user_id) DO UPDATE SET online = EXCLUDED.online, changed_at = EXCLUDED.changed_at
       WHERE user_presence.changed_at <= EXCLUDED.changed_at`,
    [userIds, online, at],
  );
}
