import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import { groupByKeys } from './group-by-keys';

export interface ReactionSummaryRow {
  messageId: string;
  emoji: string;
  count: number;
  viewerHasReacted: boolean;
}

/** Reactions of each message grouped per emoji (first used first), with whether the viewer is among them. */
export function createReactionsByMessageLoader(sql: Sql, viewerId: string | null): DataLoader<string, ReactionSummaryRow[]> {
  return new DataLoader(async (messageIds) => {
    const rows = await sql.rows<ReactionSummaryRow>(
      `SELECT message_id AS "messageId", emoji, count(*)::int AS count, coalesce(bool_or(user_id = $2), false) AS "viewerHasReacted"
       FROM reactions
       WHERE message_id = ANY($1::uuid[])
       GROUP BY message_id, emoji
       ORDER BY message_id, min(created_at), emoji`,
      [messageIds, viewerId],
    );
    return groupByKeys(messageIds, rows, (r) => r.messageId);
  });
}
