import type { TypedDocumentNode } from '@apollo/client';
import { parse } from 'graphql';
// `npm run manifest` writes it from operations/*.graphql; ship the same file to the server.
import manifest from '../../persisted-query-manifest.json';

/**
 * Parley's operations, as the persisted-query manifest holds them. In an application, import your
 * `.graphql` files with your bundler's GraphQL loader or GraphQL Code Generator instead: they are the
 * manifest's source, so the documents Apollo Client sends match its ids.
 */
export { manifest };

function document<Data, Variables extends Record<string, unknown> = Record<string, never>>(name: string): TypedDocumentNode<Data, Variables> {
  const operation = manifest.operations.find((o) => o.name === name);
  if (!operation) throw new Error(`persisted-query-manifest.json has no operation ${name}: run npm run manifest`);
  return parse(operation.body) as TypedDocumentNode<Data, Variables>;
}

export interface Author {
  id: string;
  handle: string;
  displayName: string;
}

export interface Reaction {
  __typename?: 'ReactionSummary';
  emoji: string;
  count: number;
  viewerHasReacted: boolean;
}

export interface Message {
  __typename?: 'Message';
  id: string;
  seq: number;
  body: string | null;
  clientMessageId: string;
  createdAt: string;
  editedAt: string | null;
  deletedAt: string | null;
  author: Author;
  /** Members its body names as @handle. */
  mentions: Author[];
  /** The message it answers, if any. */
  replyTo: { id: string; body: string | null; deletedAt: string | null; author: { id: string; handle: string } } | null;
  reactions: Reaction[];
}

/** What the viewer has not read, over all their conversations: the app's badge. */
export interface UnreadTotal {
  conversations: number;
  messages: number;
  mentions: number;
}

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface ConversationSummary {
  id: string;
  kind: 'DIRECT' | 'GROUP' | 'SUPPORT';
  title: string | null;
  status: 'OPEN' | 'CLOSED';
  lastSeq: number;
  lastMessageAt: string | null;
  unreadCount: number;
  /** Unread messages in it that mention the viewer. */
  unreadMentionCount: number;
  viewerRole: 'OWNER' | 'MEMBER' | null;
  lastMessage: { id: string; seq: number; body: string | null; author: { id: string; handle: string } } | null;
}

type Event<Type extends string, Fields> = { __typename: Type; conversationId: string; occurredAt: string } & Fields;
type UserRef = { user: { id: string; handle?: string } };

/** What `conversationEvents` delivers; stored events have a `seq`, ephemeral ones `seq: null`. */
export type ConversationEvent =
  | Event<'MessageAdded', { seq: number; message: Omit<Message, 'reactions'> }>
  | Event<'MessageEdited', { seq: number; message: Pick<Message, 'id' | 'body' | 'editedAt' | 'mentions'> }>
  | Event<'MessageDeleted', { seq: number; message: Pick<Message, 'id' | 'body' | 'deletedAt'> }>
  | Event<'ReactionChanged', UserRef & { seq: number; message: { id: string }; emoji: string; added: boolean }>
  | Event<'MemberJoined' | 'MemberLeft', UserRef & { seq: number }>
  | Event<'ConversationStatusChanged', { seq: number; status: 'OPEN' | 'CLOSED' }>
  | Event<'ReadReceipt', UserRef & { seq: null; lastReadSeq: number }>
  | Event<'TypingChanged', UserRef & { seq: null; typing: boolean }>
  | Event<'ResyncRequired', { seq: null; fromSeq: number }>;

export const SignUp = document<{ signUp: { token: string; user: { id: string; handle: string } } }, { input: { handle: string; displayName: string; email: string; password: string } }>('SignUp');
export const CreateConversation = document<{ createConversation: ConversationSummary }, { input: { kind: 'DIRECT' | 'GROUP' | 'SUPPORT'; title?: string; memberIds: string[] } }>('CreateConversation');
export const Inbox = document<{ conversations: { edges: { cursor: string; node: ConversationSummary }[]; pageInfo: Pick<PageInfo, 'hasNextPage' | 'endCursor'> } }, { first?: number; after?: string }>('Inbox');
export const ConversationMessages = document<
  { conversation: { id: string; lastSeq: number; messages: { edges: { cursor: string; node: Message }[]; pageInfo: PageInfo } } | null },
  { id: string; first?: number; after?: string; last?: number; before?: string }
>('ConversationMessages');
export const SendMessage = document<{ sendMessage: Message }, { input: { conversationId: string; body: string; clientMessageId: string; replyToId?: string | null } }>('SendMessage');
export const EditMessage = document<{ editMessage: Message }, { id: string; body: string }>('EditMessage');
export const AddReaction = document<{ addReaction: { id: string; reactions: Reaction[] } }, { messageId: string; emoji: string }>('AddReaction');
export const MarkRead = document<{ markRead: { id: string; unreadCount: number } }, { conversationId: string; seq: number }>('MarkRead');
export const SetTyping = document<{ setTyping: boolean }, { conversationId: string; typing: boolean }>('SetTyping');
export const RemoveMember = document<{ removeMember: { id: string; lastSeq: number } }, { conversationId: string; userId: string }>('RemoveMember');
export const ConversationEvents = document<{ conversationEvents: ConversationEvent }, { conversationId: string; afterSeq?: number | null }>('ConversationEvents');
export const InboxUpdates = document<{
  inboxUpdates: {
    removed: boolean;
    unreadCount: number;
    unreadMentionCount: number;
    unreadTotal: UnreadTotal;
    conversation: Pick<ConversationSummary, 'id' | 'title' | 'status' | 'lastSeq' | 'lastMessageAt' | 'lastMessage'>;
  };
}>('InboxUpdates');
