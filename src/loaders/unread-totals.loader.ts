import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import { UnreadTotal } from '../entities/unread-total.entity';
import { orderByKeys } from './order-by-keys';

/** Each user's unread totals (one row per user, kept by PostgreSQL): a read, never a recount. */
export function createUnreadTotalsLoader(sql: Sql): DataLoader<string, UnreadTotal | null> {
  const text = `SELECT ${sql.columns(UnreadTotal, 't')} FROM unread_totals t WHERE t.user_id = ANY($1::uuid[])`;
  return new DataLoader(async (userIds) => {
    const rows = await sql.rows<UnreadTotal>(text, [userIds]);
    return orderByKeys('unread-totals', userIds, rows, (row) => row.userId);
  });
}
