import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { Message } from '../entities/message.entity';
import { orderByKeys } from './order-by-keys';

/** The newest message (highest seq) of each conversation: one index probe per conversation, one statement. */
export function createLastMessageLoader(dataSource: DataSource): DataLoader<string, Message | null> {
  return new DataLoader(async (conversationIds) => {
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT ${entityColumns(dataSource, Message, 'm')}
       FROM unnest($1::uuid[]) AS c(id)
       CROSS JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) m`,
      [conversationIds],
    );
    const messages = rows.map((row) => hydrate(Message, row));
    return orderByKeys('last-message', conversationIds, messages, (m) => m.conversationId);
  });
}
