import type { DataSource } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { Message } from '../entities/message.entity';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';

/** The text-search configuration of messages_body_fts_idx: queries must use the same expression. */
const DOCUMENT = `to_tsvector('english', coalesce(m.body, ''))`;

/** Best match first (ts_rank, as float8 so cursors round-trip exactly), ties by id. */
const SEARCH_ORDER: KeyOrder = {
  columns: [
    { sql: `ts_rank(${DOCUMENT}, q)::float8`, type: 'float8' },
    { sql: 'm.id', type: 'uuid' },
  ],
  descending: true,
};

/**
 * Full-text search (web-search syntax: words, "phrases", -exclusions, or) over the messages of
 * conversations the viewer belongs to; deleted messages never match. Uses the GIN index.
 */
export async function searchMessages(
  dataSource: DataSource,
  viewerId: string,
  query: string,
  conversationId: string | null,
  request: PageRequest,
  cursorKey: CursorKey | null,
): Promise<PageRows<Message>> {
  const page = await loadPage(dataSource, {
    request,
    cursorKey,
    order: SEARCH_ORDER,
    from: `messages m JOIN memberships vm ON vm.conversation_id = m.conversation_id AND vm.user_id = $1
           CROSS JOIN websearch_to_tsquery('english', $2) AS q`,
    where: `${DOCUMENT} @@ q AND m.deleted_at IS NULL${conversationId ? ' AND m.conversation_id = $3' : ''}`,
    params: conversationId ? [viewerId, query, conversationId] : [viewerId, query],
    select: entityColumns(dataSource, Message, 'm'),
  });
  return { beyond: page.beyond, rows: page.rows.map(({ row, key }) => ({ row: hydrate(Message, row), key })) };
}
