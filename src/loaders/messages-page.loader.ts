import type { DataSource } from 'typeorm';
import type { Message } from '../entities/message.entity';
import type { User } from '../entities/user.entity';
import { loadBatchedPages } from '../pagination/batched-pages';
import type { CursorCodec } from '../pagination/cursor';
import type { KeyOrder } from '../pagination/keyset';
import { messageWithAuthor } from './message-with-author';
import { createPagedLoader } from './paged-loader';

/** Messages in seq order; served by messages_conversation_seq_key at any depth. */
export const MESSAGE_ORDER: KeyOrder = { columns: [{ sql: 'm.seq', type: 'int' }], descending: false };

/**
 * Pages of messages, each with its author in the same statement: `onAuthor` primes the request's
 * users-by-id loader, so `author` fields cost no statement of their own.
 */
export function createMessagesPageLoader(dataSource: DataSource, cursors: CursorCodec, onAuthor: (author: User) => void) {
  const { select, hydrate } = messageWithAuthor(dataSource, onAuthor);
  return createPagedLoader<Message>({
    cursors,
    listName: (conversationId) => `messages:${conversationId}`,
    load: (parentIds, request, cursorKey) =>
      loadBatchedPages(dataSource, { parentIds, request, cursorKey, order: MESSAGE_ORDER, from: 'messages m JOIN users au ON au.id = m.author_id', parentColumn: 'm.conversation_id', select }),
    hydrate,
  });
}
