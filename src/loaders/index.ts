import type { DataSource } from 'typeorm';
import type { User } from '../entities/user.entity';
import type { CursorCodec } from '../pagination/cursor';
import type { PresenceStore } from '../subscriptions/presence';
import { createAcquaintancesLoader } from './acquaintances.loader';
import { createConversationsByIdLoader } from './conversations-by-id.loader';
import { createLastMessageLoader } from './last-message.loader';
import { createMembersPageLoader } from './members-page.loader';
import { createMessagesByIdLoader } from './messages-by-id.loader';
import { createMessagesPageLoader } from './messages-page.loader';
import { createOnlineByUserIdLoader } from './online-by-user-id.loader';
import { createReactionsByMessageLoader } from './reactions-by-message.loader';
import { createUnreadCountLoader } from './unread-count.loader';
import { createUsersByIdLoader } from './users-by-id.loader';
import { createViewerMembershipLoader } from './viewer-membership.loader';

export interface LoaderSources {
  dataSource: DataSource;
  presence: PresenceStore;
  cursors: CursorCodec;
}

/**
 * Fresh loaders for one HTTP request, or for one delivered subscription event: their caches must
 * never outlive the unit of work that filled them, or they serve stale rows. Viewer-dependent
 * loaders are bound to the viewer they were made for.
 */
export function createLoaders({ dataSource, presence, cursors }: LoaderSources, viewerId: string | null) {
  const usersById = createUsersByIdLoader(dataSource);
  // Loaders that select users along with their own rows hand them to usersById.
  const primeUser = (user: User) => void usersById.prime(user.id, user);
  return {
    usersById,
    onlineByUserId: createOnlineByUserIdLoader(presence),
    acquaintances: createAcquaintancesLoader(dataSource, viewerId),
    conversationsById: createConversationsByIdLoader(dataSource),
    messagesById: createMessagesByIdLoader(dataSource),
    viewerMembership: createViewerMembershipLoader(dataSource, viewerId),
    lastMessage: createLastMessageLoader(dataSource, primeUser),
    unreadCount: createUnreadCountLoader(dataSource, viewerId),
    reactionsByMessage: createReactionsByMessageLoader(dataSource, viewerId),
    membersPage: createMembersPageLoader(dataSource, cursors),
    messagesPage: createMessagesPageLoader(dataSource, cursors, primeUser),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
