import type { Sql } from '../database/sql';
import type { MemberRole } from '../entities/membership.entity';
import type { Timestamp, UserRecord } from '../entities/records';
import { User } from '../entities/user.entity';
import { loadBatchedPages } from '../pagination/batched-pages';
import type { CursorCodec } from '../pagination/cursor';
import type { KeyOrder } from '../pagination/keyset';
import { createPagedLoader } from './paged-loader';

/** Members in join order (joined_at, then user id); served by memberships_join_order_idx. */
const MEMBER_ORDER: KeyOrder = {
  columns: [
    { sql: 'ms.joined_at', type: 'timestamptz' },
    { sql: 'ms.user_id', type: 'uuid' },
  ],
  descending: false,
};

/** A member: the user's own row, with the membership's columns beside it. */
export interface MemberRow extends UserRecord {
  __memberRole: MemberRole;
  __joinedAt: Timestamp;
  __lastReadSeq: number;
}

/** A page of members (each row is the user's record), plus the conversation's member count (`extra.__total`). */
export function createMembersPageLoader(sql: Sql, cursors: CursorCodec) {
  const select = `${sql.columns(User, 'u', { omit: ['passwordHash'] })}, ms.role AS "__memberRole", ms.joined_at AS "__joinedAt", ms.last_read_seq AS "__lastReadSeq"`;
  return createPagedLoader<MemberRow>({
    cursors,
    listName: (conversationId) => `members:${conversationId}`,
    load: (parentIds, request, cursorKey) =>
      loadBatchedPages<MemberRow>(sql, {
        parentIds,
        request,
        cursorKey,
        order: MEMBER_ORDER,
        from: 'memberships ms JOIN users u ON u.id = ms.user_id',
        parentColumn: 'ms.conversation_id',
        select,
        perParent: '(SELECT count(*)::int FROM memberships WHERE conversation_id = $parent) AS "__total"',
      }),
  });
}
