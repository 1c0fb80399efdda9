import type { Sql } from '../database/sql';
import type { UserRecord } from '../entities/records';
import type { CursorCodec } from '../pagination/cursor';
import type { PresenceStore } from '../subscriptions/presence';
import { createAcquaintancesLoader } from './acquaintances.loader';
import { createConversationsByIdLoader } from './conversations-by-id.loader';
import { createLastMessageLoader } from './last-message.loader';
import { createMembersPageLoader } from './members-page.loader';
import { createMentionsByMessageLoader } from './mentions-by-message.loader';
import { createMessagesByIdLoader } from './messages-by-id.loader';
import { createMessagesPageLoader } from './messages-page.loader';
import { createOnlineByUserIdLoader } from './online-by-user-id.loader';
import { createReactionsByMessageLoader } from './reactions-by-message.loader';
import { createUnreadTotalsLoader } from './unread-totals.loader';
import { createUsersByIdLoader } from './users-by-id.loader';
import { createViewerMembershipLoader } from './viewer-membership.loader';

export interface LoaderSources {
  sql: Sql;
  presence: PresenceStore;
  cursors: CursorCodec;
}

/**
 * Fresh loaders for one HTTP request, or for one delivered subscription event: their caches must
 * never outlive the unit of work that filled them, or they serve stale rows. Viewer-dependent
 * loaders are bound to the viewer they were made for.
 */
export function createLoaders({ sql, presence, cursors }: LoaderSources, viewerId: string | null) {
  const usersById = createUsersByIdLoader(sql);
  // Loaders that select users along with their own rows hand them to usersById.
  const primeUser = (user: UserRecord) => void usersById.prime(user.id, user);
  return {
    usersById,
    onlineByUserId: createOnlineByUserIdLoader(presence),
    acquaintances: createAcquaintancesLoader(sql, viewerId),
    conversationsById: createConversationsByIdLoader(sql),
    messagesById: createMessagesByIdLoader(sql),
    viewerMembership: createViewerMembershipLoader(sql, viewerId),
    lastMessage: createLastMessageLoader(sql, primeUser),
    reactionsByMessage: createReactionsByMessageLoader(sql, viewerId),
    mentionsByMessage: createMentionsByMessageLoader(sql, primeUser),
    unreadTotals: createUnreadTotalsLoader(sql),
    membersPage: createMembersPageLoader(sql, cursors),
    messagesPage: createMessagesPageLoader(sql, cursors, primeUser),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
