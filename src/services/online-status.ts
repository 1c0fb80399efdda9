import type { DataSource } from 'typeorm';
import { Topic } from '../events/topics';
import { announce, type ChangeDeps } from './changes';

/** A user's first connection anywhere opened: tell presence subscribers. */
export function announceOnline(deps: ChangeDeps, userId: string): void {
  announce(deps, Topic.presence(), { userId, online: true, at: new Date().toISOString() });
}

/**
 * Users went offline (last connection closed, or their instance died): tell presence subscribers,
 * then record when. Announcing first keeps announcements in the order presence decided them: a
 * reload's "offline" must not overtake its "online" while waiting for the database.
 */
export async function announceOffline(deps: ChangeDeps, userIds: string[], at: Date = new Date()): Promise<void> {
  for (const userId of userIds) announce(deps, Topic.presence(), { userId, online: false, at: at.toISOString() });
  await recordLastSeen(deps.dataSource, userIds, at);
}

/** `User.lastSeenAt` shows when a user was last online; an erased account keeps none. */
export async function recordLastSeen(dataSource: DataSource, userIds: string[], at: Date): Promise<void> {
  await dataSource.query(`UPDATE users SET last_seen_at = $2 WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL`, [userIds, at]);
}
