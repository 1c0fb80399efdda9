import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';

/**
 * Whether the viewer may see each user's presence (`online`, `lastSeenAt`): the user is the viewer,
 * or shares a conversation with them. Presence is members-only on the subscription side; this keeps
 * strangers from watching it through `user(handle)` or `node(id)`. One statement per batch; false
 * for an anonymous viewer, without a query.
 */
export function createAcquaintancesLoader(sql: Sql, viewerId: string | null): DataLoader<string, boolean> {
  return new DataLoader(async (userIds) => {
    if (!viewerId) return userIds.map(() => false);
    const others = userIds.filter((id) => id !== viewerId);
    const rows: { id: string }[] =
      others.length === 0
        ? []
        : await sql.rows<{ id: string }>(
            `SELECT DISTINCT theirs.user_id AS id
             FROM memberships mine JOIN memberships theirs ON theirs.conversation_id = mine.conversation_id
             WHERE mine.user_id = $1 AND theirs.user_id = ANY($2::uuid[])`,
            [viewerId, others],
          );
    const known = new Set(rows.map((row) => row.id));
    return userIds.map((id) => id === viewerId || known.has(id));
  });
}
