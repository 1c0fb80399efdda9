import type { DataSource } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { Message } from '../entities/message.entity';
import { loadBatchedPages } from '../pagination/batched-pages';
import type { CursorCodec } from '../pagination/cursor';
import type { KeyOrder } from '../pagination/keyset';
import { createPagedLoader } from './paged-loader';

/** Messages in seq order; served by messages_conversation_seq_key at any depth. */
export const MESSAGE_ORDER: KeyOrder = { columns: [{ sql: 'm.seq', type: 'int' }], descending: false };

export function createMessagesPageLoader(dataSource: DataSource, cursors: CursorCodec) {
  const select = entityColumns(dataSource, Message, 'm');
  return createPagedLoader<Message>({
    cursors,
    listName: (conversationId) => `messages:${conversationId}`,
    load: (parentIds, request, cursorKey) =>
      loadBatchedPages(dataSource, { parentIds, request, cursorKey, order: MESSAGE_ORDER, from: 'messages m', parentColumn: 'm.conversation_id', select }),
    hydrate: (row) => hydrate(Message, row),
  });
}
