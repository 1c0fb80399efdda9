import type { Sql } from '../database/sql';
import type { MessageRecord, UserRecord } from '../entities/records';
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
export function createMessagesPageLoader(sql: Sql, cursors: CursorCodec, onAuthor: (author: UserRecord) => void) {
  const { select, attachAuthors } = messageWithAuthor(sql, onAuthor);
  return createPagedLoader<MessageRecord>({
    cursors,
    listName: (conversationId) => `messages:${conversationId}`,
    async load(parentIds, request, cursorKey) {
      const pages = await loadBatchedPages<MessageRecord>(sql, {
        parentIds,
        request,
        cursorKey,
        order: MESSAGE_ORDER,
        from: 'messages m JOIN users au ON au.id = m.author_id',
        parentColumn: 'm.conversation_id',
        select,
      });
      for (const page of pages.values()) attachAuthors(page.rows);
      return pages;
    },
  });
}
