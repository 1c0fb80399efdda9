import type { DataSource } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { Membership } from '../entities/membership.entity';
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

/** A page of members, each with its user, plus the conversation's member count (`extra.__total`). */
export function createMembersPageLoader(dataSource: DataSource, cursors: CursorCodec) {
  const userColumns = dataSource
    .getMetadata(User)
    .columns.filter((c) => c.propertyName !== 'passwordHash')
    .map((c) => `u.${c.databaseName} AS "user.${c.propertyName}"`);
  const select = [entityColumns(dataSource, Membership, 'ms'), ...userColumns].join(', ');
  return createPagedLoader<Membership & { user: User }>({
    cursors,
    listName: (conversationId) => `members:${conversationId}`,
    load: (parentIds, request, cursorKey) =>
      loadBatchedPages(dataSource, {
        parentIds,
        request,
        cursorKey,
        order: MEMBER_ORDER,
        from: 'memberships ms JOIN users u ON u.id = ms.user_id',
        parentColumn: 'ms.conversation_id',
        select,
        perParent: '(SELECT count(*)::int FROM memberships WHERE conversation_id = $parent) AS "__total"',
      }),
    hydrate: (row) => {
      const userRow = Object.fromEntries(Object.entries(row).filter(([k]) => k.startsWith('user.')).map(([k, v]) => [k.slice(5), v]));
      const membership = hydrate(Membership, Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('user.'))));
      return Object.assign(membership, { user: hydrate(User, userRow) });
    },
  });
}
