import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import type { MessageRecord, UserRecord } from '../entities/records';
import { messageWithAuthor } from './message-with-author';
import { orderByKeys } from './order-by-keys';

/**
 * The newest message (highest seq) of each conversation: one index probe per conversation, one
 * statement, with its author (handed to `onAuthor`, which primes the users-by-id loader).
 */
export function createLastMessageLoader(sql: Sql, onAuthor: (author: UserRecord) => void): DataLoader<string, MessageRecord | null> {
  const { select, attachAuthors } = messageWithAuthor(sql, onAuthor);
  return new DataLoader(async (conversationIds) => {
    const messages = await sql.rows<MessageRecord>(
      `SELECT ${select}
       FROM unnest($1::uuid[]) AS c(id)
       CROSS JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) m
       JOIN users au ON au.id = m.author_id`,
      [conversationIds],
    );
    attachAuthors(messages);
    return orderByKeys('last-message', conversationIds, messages, (m) => m.conversationId);
  });
}
