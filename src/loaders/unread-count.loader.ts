import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';

/**
 * Per conversation: messages after the viewer's read marker that someone else wrote and nobody
 * deleted. Scans only the unread tail of each conversation (messages_conversation_seq_key).
 */
export function createUnreadCountLoader(sql: Sql, viewerId: string | null): DataLoader<string, number> {
  return new DataLoader(async (conversationIds) => {
    if (!viewerId) return conversationIds.map(() => 0);
    const rows = await sql.rows<{ conversationId: string; count: number }>(
      `SELECT vm.conversation_id AS "conversationId", count(m.id)::int AS count
       FROM memberships vm
       JOIN messages m ON m.conversation_id = vm.conversation_id AND m.seq > vm.last_read_seq
         AND m.author_id <> vm.user_id AND m.deleted_at IS NULL
       WHERE vm.user_id = $1 AND vm.conversation_id = ANY($2::uuid[])
       GROUP BY vm.conversation_id`,
      [viewerId, conversationIds],
    );
    const counts = new Map(rows.map((r) => [r.conversationId, r.count]));
    return conversationIds.map((id) => counts.get(id) ?? 0);
  });
}
