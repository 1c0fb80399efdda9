import { gql, type ApolloCache, type ApolloClient, type Reference } from '@apollo/client';
import { ConversationEvents, ConversationMessages, type ConversationEvent, type Message, type Reaction } from './documents';

export interface ConversationViewOptions {
  /** The signed-in user: their own reactions set `viewerHasReacted`. */
  viewerId: string;
  /** The messages to show, oldest first, each time they change. */
  onMessages: (messages: readonly Message[]) => void;
  onTyping?: (user: { id: string; handle?: string }, typing: boolean) => void;
  /** Another member read up to `lastReadSeq` ("seen"). */
  onReadReceipt?: (userId: string, lastReadSeq: number) => void;
  /** The subscription ended with an error (FORBIDDEN: the viewer was removed). */
  onError?: (error: Error) => void;
  /** Messages per page. Default 20. */
  pageSize?: number;
}

export interface ConversationView {
  /** Loads the page before the oldest message shown; false once the first message is shown. */
  loadOlder(): Promise<boolean>;
  close(): void;
}

/** How a message the subscription announces is stored: every MessageFields field; a new message has no reactions. */
const NEW_MESSAGE = gql`
  fragment NewMessage on Message {
    id
    seq
    body
    clientMessageId
    createdAt
    editedAt
    deletedAt
    author {
      id
      handle
      displayName
    }
    reactions {
      emoji
      count
      viewerHasReacted
    }
  }
`;

/**
 * One conversation, as a chat screen shows it: the latest page of history, older pages on demand,
 * and live events applied to the same cache. The subscription starts at the
 * history's `lastSeq`, so nothing falls between the two; after a reconnect the client helper resumes
 * it from the last event received. (With React: `useQuery` + `subscribeToMore` do the same.)
 */
export async function openConversation(client: ApolloClient, conversationId: string, options: ConversationViewOptions): Promise<ConversationView> {
  const variables = { id: conversationId, last: options.pageSize ?? 20 };
  // From the server, not the cache: the page and its lastSeq must be one snapshot, or events the
  // cache already reflects would be applied twice.
  const { data } = await client.query({ query: ConversationMessages, variables, fetchPolicy: 'network-only' });
  if (!data?.conversation) throw new Error(`No conversation ${conversationId} for this viewer.`);

  const history = client.watchQuery({ query: ConversationMessages, variables });
  const shown = history.subscribe((result) => {
    if (result.dataState === 'complete' && result.data.conversation) options.onMessages(result.data.conversation.messages.edges.map((edge) => edge.node));
  });

  const live = client.subscribe({ query: ConversationEvents, variables: { conversationId, afterSeq: data.conversation.lastSeq } }).subscribe(({ data: event, error }) => {
    if (error) return options.onError?.(error);
    if (!event) return;
    const resync = apply(client.cache, conversationId, event.conversationEvents, options);
    // More events were missed than the server replays: read the latest page again.
    if (resync) void history.refetch();
  });

  return {
    async loadOlder() {
      // The cache as it is now: the watched result is updated a moment after fetchMore settles.
      const pageInfo = client.readQuery({ query: ConversationMessages, variables })?.conversation?.messages.pageInfo;
      if (!pageInfo?.hasPreviousPage || !pageInfo.startCursor) return false;
      await history.fetchMore({ variables: { last: variables.last, before: pageInfo.startCursor } });
      return true;
    },
    close() {
      live.unsubscribe();
      shown.unsubscribe();
    },
  };
}

/** Writes one event into the cache (or hands an ephemeral one to its callback); true for ResyncRequired. */
function apply(cache: ApolloCache, conversationId: string, event: ConversationEvent, options: ConversationViewOptions): boolean {
  const conversation = cache.identify({ __typename: 'Conversation', id: conversationId });
  switch (event.__typename) {
    case 'MessageAdded': {
      const node = cache.writeFragment({ fragment: NEW_MESSAGE, data: { __typename: 'Message', ...event.message, reactions: [] } });
      cache.modify<{ lastSeq: number; messages: { edges: { __typename: 'MessageEdge'; cursor: string; node: Reference }[] } }>({
        id: conversation,
        fields: {
          lastSeq: () => event.seq,
          messages(existing, { readField, isReference }) {
            if (isReference(existing) || existing.edges.some((edge) => readField('id', edge.node) === event.message.id)) return existing;
            // A live message has no cursor: the history pages backward from the oldest one shown.
            return { ...existing, edges: [...existing.edges, { __typename: 'MessageEdge', cursor: '', node: node! }] };
          },
        },
      });
      return false;
    }
    case 'ReactionChanged': {
      cache.modify({ id: conversation, fields: { lastSeq: () => event.seq } });
      cache.modify<{ reactions: Reaction[] }>({
        id: cache.identify({ __typename: 'Message', id: event.message.id }),
        fields: {
          reactions: (existing, { readField }) =>
            reactionsAfter(
              existing.map((r) => ({ __typename: 'ReactionSummary', emoji: readField<string>('emoji', r)!, count: readField<number>('count', r)!, viewerHasReacted: readField<boolean>('viewerHasReacted', r)! })),
              event,
              options.viewerId,
            ),
        },
      });
      return false;
    }
    case 'ConversationStatusChanged':
      cache.modify({ id: conversation, fields: { status: () => event.status, lastSeq: () => event.seq } });
      return false;
    case 'MessageEdited':
    case 'MessageDeleted':
      // The event's message (body, editedAt, deletedAt) was merged into the cached Message by its id.
      cache.modify({ id: conversation, fields: { lastSeq: () => event.seq } });
      return false;
    case 'MemberJoined':
    case 'MemberLeft':
      cache.modify({ id: conversation, fields: { lastSeq: () => event.seq } });
      return false;
    case 'TypingChanged':
      options.onTyping?.(event.user, event.typing);
      return false;
    case 'ReadReceipt':
      if (event.user.id !== options.viewerId) options.onReadReceipt?.(event.user.id, event.lastReadSeq);
      return false;
    case 'ResyncRequired':
      return true;
  }
}

/**
 * Reaction counts after one ReactionChanged. The viewer's own reaction may be in the cache already
 * (the addReaction answer updated it): it changes the count only if `viewerHasReacted` changes.
 */
function reactionsAfter(existing: readonly Reaction[], event: Extract<ConversationEvent, { __typename: 'ReactionChanged' }>, viewerId: string): Reaction[] {
  const mine = event.user.id === viewerId;
  const current = existing.find((r) => r.emoji === event.emoji) ?? { __typename: 'ReactionSummary' as const, emoji: event.emoji, count: 0, viewerHasReacted: false };
  if (mine && current.viewerHasReacted === event.added) return [...existing];
  const next = { ...current, count: current.count + (event.added ? 1 : -1), viewerHasReacted: mine ? event.added : current.viewerHasReacted };
  const others = existing.filter((r) => r.emoji !== event.emoji);
  return next.count > 0 ? [...others, next] : others;
}
