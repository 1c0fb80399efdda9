import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { Membership } from '../entities/membership.entity';
import { orderByKeys } from './order-by-keys';

/**
 * The viewer's membership of each conversation, or null: the authorization fact behind every
 * conversation read. Always null for an anonymous viewer, without a query.
 */
export function createViewerMembershipLoader(dataSource: DataSource, viewerId: string | null): DataLoader<string, Membership | null> {
  return new DataLoader(async (conversationIds) => {
    if (!viewerId) return conversationIds.map(() => null);
    const memberships = await dataSource.getRepository(Membership).findBy({ userId: viewerId, conversationId: In([...conversationIds]) });
    return orderByKeys('viewer-membership', conversationIds, memberships, (m) => m.conversationId);
  });
}
