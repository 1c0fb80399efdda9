import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import type { UserRecord } from '../entities/records';
import { User } from '../entities/user.entity';
import { groupByKeys } from './group-by-keys';

/**
 * The members each message mentions (resolved when it was written or last edited), by handle.
 * One statement per page of messages; each user found is handed to `onUser` (the users-by-id loader).
 */
export function createMentionsByMessageLoader(sql: Sql, onUser: (user: UserRecord) => void): DataLoader<string, UserRecord[]> {
  const text = `SELECT mm.message_id AS "__messageId", ${sql.columns(User, 'u', { omit: ['passwordHash'] })}
    FROM message_mentions mm JOIN users u ON u.id = mm.user_id
    WHERE mm.message_id = ANY($1::uuid[])
    ORDER BY mm.message_id, lower(u.handle)`;
  return new DataLoader(async (messageIds) => {
    const rows = await sql.rows<UserRecord & { __messageId: string }>(text, [messageIds]);
    const groups = groupByKeys(messageIds, rows, (row) => row.__messageId);
    for (const row of rows) onUser(row);
    return groups;
  });
}
