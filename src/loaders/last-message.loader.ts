import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import type { Message } from '../entities/message.entity';
import type { User } from '../entities/user.entity';
import { messageWithAuthor } from './message-with-author';
import { orderByKeys } from './order-by-keys';

/**
 * The newest message (highest seq) of each conversation: one index probe per conversation, one
 * statement, with its author (handed to `onAuthor`, which primes the users-by-id loader).
 */
export function createLastMessageLoader(dataSource: DataSource, onAuthor: (author: User) => void): DataLoader<string, Message | null> {
  const { select, hydrate } = messageWithAuthor(dataSource, onAuthor);
  return new DataLoader(async (conversationIds) => {
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT ${select}
       FROM unnest($1::uuid[]) AS c(id)
       CROSS JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) m
       JOIN users au ON au.id = m.author_id`,
      [conversationIds],
    );
    const messages = rows.map(hydrate);
    return orderByKeys('last-message', conversationIds, messages, (m) => m.conversationId);
  });
}
