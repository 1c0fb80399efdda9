import type { ApolloClient } from '@apollo/client';
import { Inbox, InboxUpdates, type ConversationSummary, type UnreadTotal } from './documents';

export interface InboxViewOptions {
  /** The conversations to show, most recent activity first, each time they change. */
  onConversations: (conversations: readonly ConversationSummary[]) => void;
  /** The app's unread badge, each time an update changes it (read `me { unreadTotal }` for the first). */
  onUnreadTotal?: (total: UnreadTotal) => void;
  onError?: (error: Error) => void;
  /** Conversations per page. Default 20. */
  pageSize?: number;
}

export interface InboxView {
  /** Loads the next page of older conversations; false once every one is shown. */
  loadMore(): Promise<boolean>;
  close(): void;
}

/**
 * The viewer's inbox: pages of conversations from the cache, kept current by `inboxUpdates` (new
 * messages, unread counts and mentions, status; a conversation the viewer left or was removed from
 * disappears), and the unread badge over all of them.
 * What changed while the socket was down is not replayed: the client's `onReconnected` refetches
 * this query (see apollo-client.ts).
 */
export function openInbox(client: ApolloClient, options: InboxViewOptions): InboxView {
  const inbox = client.watchQuery({ query: Inbox, variables: { first: options.pageSize ?? 20 } });
  const shown = inbox.subscribe((result) => {
    if (result.dataState !== 'complete') return;
    const conversations = result.data.conversations.edges.map((edge) => edge.node);
    // A stable sort: conversations without messages keep the server's order (by creation).
    options.onConversations(conversations.toSorted((a, b) => (b.lastMessageAt ?? '').localeCompare(a.lastMessageAt ?? '')));
  });

  const updates = client.subscribe({ query: InboxUpdates }).subscribe(({ data, error }) => {
    if (error) return options.onError?.(error);
    const update = data?.inboxUpdates;
    if (!update) return;
    options.onUnreadTotal?.(update.unreadTotal);
    const id = client.cache.identify({ __typename: 'Conversation', id: update.conversation.id });
    if (update.removed) {
      client.cache.evict({ id });
      client.cache.gc();
      return;
    }
    // The conversation's other fields were merged into the cache by its id; the counts are the update's own.
    const known = client.cache.modify({ id, fields: { unreadCount: () => update.unreadCount, unreadMentionCount: () => update.unreadMentionCount } });
    // A conversation the inbox has not seen yet (the viewer was just added): read the first page again.
    if (!known) void inbox.refetch();
  });

  return {
    async loadMore() {
      // The cache as it is now: the watched result is updated a moment after fetchMore settles.
      const pageInfo = client.readQuery({ query: Inbox, variables: inbox.variables })?.conversations.pageInfo;
      if (!pageInfo?.hasNextPage || !pageInfo.endCursor) return false;
      await inbox.fetchMore({ variables: { after: pageInfo.endCursor } });
      return true;
    },
    close() {
      updates.unsubscribe();
      shown.unsubscribe();
    },
  };
}
