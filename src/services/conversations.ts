import type { DataSource } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { Conversation, type ConversationStatus } from '../entities/conversation.entity';
import { Membership, type MemberRole } from '../entities/membership.entity';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';

/** Most recent activity first: the last message, else creation; ties by id. */
const INBOX_ORDER: KeyOrder = {
  columns: [
    { sql: 'coalesce(c.last_message_at, c.created_at)', type: 'timestamptz' },
    { sql: 'c.id', type: 'uuid' },
  ],
  descending: true,
};

export interface InboxRow {
  conversation: Conversation;
  /** The viewer's membership, selected alongside so no second look-up is needed to authorize. */
  membership: Membership;
}

/** One page of the viewer's conversations, optionally of one status. */
export async function listViewerConversations(
  dataSource: DataSource,
  viewerId: string,
  status: ConversationStatus | null,
  request: PageRequest,
  cursorKey: CursorKey | null,
): Promise<PageRows<InboxRow>> {
  const page = await loadPage(dataSource, {
    request,
    cursorKey,
    order: INBOX_ORDER,
    from: 'memberships vm JOIN conversations c ON c.id = vm.conversation_id',
    where: status ? 'vm.user_id = $1 AND c.status = $2' : 'vm.user_id = $1',
    params: status ? [viewerId, status] : [viewerId],
    select: `${entityColumns(dataSource, Conversation, 'c')}, vm.role AS "__role", vm.last_read_seq AS "__lastReadSeq", vm.joined_at AS "__joinedAt"`,
  });
  return {
    beyond: page.beyond,
    rows: page.rows.map(({ row, key }) => {
      const conversation = hydrate(Conversation, row);
      const membership = Object.assign(new Membership(), {
        conversationId: conversation.id,
        userId: viewerId,
        role: row.__role as MemberRole,
        lastReadSeq: row.__lastReadSeq as number,
        joinedAt: row.__joinedAt as Date,
      });
      return { row: { conversation, membership }, key };
    }),
  };
}
