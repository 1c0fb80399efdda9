import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import { Membership } from '../entities/membership.entity';
import type { MembershipRecord } from '../entities/records';
import { orderByKeys } from './order-by-keys';

/**
 * The viewer's membership of each conversation, or null: the authorization fact behind every
 * conversation read. Always null for an anonymous viewer, without a query.
 */
export function createViewerMembershipLoader(sql: Sql, viewerId: string | null): DataLoader<string, MembershipRecord | null> {
  const text = `SELECT ${sql.columns(Membership, 'ms')} FROM memberships ms WHERE ms.user_id = $1 AND ms.conversation_id = ANY($2::uuid[])`;
  return new DataLoader(async (conversationIds) => {
    if (!viewerId) return conversationIds.map(() => null);
    const memberships = await sql.rows<MembershipRecord>(text, [viewerId, conversationIds]);
    return orderByKeys('viewer-membership', conversationIds, memberships, (m) => m.conversationId);
  });
}
