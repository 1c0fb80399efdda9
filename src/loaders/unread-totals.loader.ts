import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';

export interface UnreadTotalRow {
  userId: string;
  conversations: number;
  messages: number;
  mentions: number;
}

/**
 * Each user's unread totals: the sum of the counters kept on their memberships (one range of
 * memberships_user_id_idx per user), never a count of messages.
 */
export function createUnreadTotalsLoader(sql: Sql): DataLoader<string, UnreadTotalRow> {
  const text = `SELECT ms.user_id AS "userId", count(*) FILTER (WHERE ms.unread_messages > 0)::int AS conversations,
      coalesce(sum(ms.unread_messages), 0)::int AS messages, coalesce(sum(ms.unread_mentions), 0)::int AS mentions
    FROM memberships ms WHERE ms.user_id = ANY ($1::uuid[]) GROUP BY ms.user_id`;
  return new DataLoader(async (userIds) => {
    const rows = await sql.rows<UnreadTotalRow>(text, [userIds]);
    const byUser = new Map(rows.map((row) => [row.userId, row]));
    return userIds.map((userId) => byUser.get(userId) ?? { userId, conversations: 0, messages: 0, mentions: 0 });
  });
}
