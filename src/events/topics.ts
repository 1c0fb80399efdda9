import type { ConversationStatus } from '../entities/conversation.entity';
import type { MessageRecord, Timestamp, UserRecord } from '../entities/records';

/**
 * A message as its event carries it on the bus, so that delivering the event needs no read per
 * event per instance: the message row, and its author's and mentioned members' public fields.
 * Timestamps are ISO text. Only on the bus: the log stores the id alone, and
 * a replay reads the message as it is then (edited, deleted or erased since, never resurrected).
 */
export type MessagePayload = AsText<Omit<MessageRecord, 'author' | 'mentions'>> & { author: PublicUserPayload; mentions: PublicUserPayload[] };

/** A user's public fields, as events carry them: never the e-mail address. */
export type PublicUserPayload = AsText<Omit<UserRecord, 'email'>>;

/** A record with its points in time as text, as JSON carries them. */
type AsText<T> = { [K in keyof T]: T[K] extends Timestamp ? string : T[K] extends Timestamp | null ? string | null : T[K] };

/** What each kind of stored conversation event records. Ids and scalar facts only; JSON-safe. */
export interface StoredEventPayloads {
  /** `message` travels on the bus only (see `MessagePayload`). */
  MessageAdded: { messageId: string; message?: MessagePayload };
  MessageEdited: { messageId: string; message?: MessagePayload };
  MessageDeleted: { messageId: string };
  ReactionChanged: { messageId: string; userId: string; emoji: string; added: boolean };
  MemberJoined: { userId: string };
  MemberLeft: { userId: string };
  ConversationStatusChanged: { status: ConversationStatus };
}

export type StoredEventType = keyof StoredEventPayloads;

/** A row of the event log as it travels on the bus (dates as ISO strings). */
export type StoredEvent = {
  [T in StoredEventType]: { conversationId: string; seq: number; type: T; occurredAt: string; payload: StoredEventPayloads[T] };
}[StoredEventType];

/** Typing and read receipts: never stored, no seq. */
export type EphemeralEvent =
  | { conversationId: string; seq: null; type: 'TypingChanged'; occurredAt: string; payload: { userId: string; typing: boolean } }
  | { conversationId: string; seq: null; type: 'ReadReceipt'; occurredAt: string; payload: { userId: string; lastReadSeq: number } };

export type ConversationTopicEvent = StoredEvent | EphemeralEvent;

/** Changes to one user's own memberships: how an inbox subscription learns of conversations it must start or stop following. */
export interface MembershipChange {
  conversationId: string;
  joined: boolean;
}

/** A user came online (first connection anywhere in the cluster) or went offline (last one closed, or its instance died). */
export interface PresenceChange {
  userId: string;
  online: boolean;
  /** ISO time of the change; for offline, also the user's new lastSeenAt. */
  at: string;
}

/** One instance's live figures, published every second (subscriptions/metrics-stream.ts). */
export interface InstanceReport {
  instanceId: string;
  /** When it was made, ms since the epoch. */
  at: number;
  connectedClients: number;
  activeSubscriptions: number;
  requestsPerSecond: number;
  errorsPerMinute: number;
  messagesPerMinute: number;
  latencyBuckets: number[];
}

declare const payloadType: unique symbol;

/** A topic name that remembers the payload type published on it. */
export type Topic<P> = string & { readonly [payloadType]: P };

/**
 * The typed registry of every topic: publishing and subscribing go through these builders only, so
 * a topic's name and its payload type cannot drift apart.
 */
export const Topic = {
  /** Every event of one conversation, stored and ephemeral. */
  conversation: (conversationId: string) => `conversation:${conversationId}` as Topic<ConversationTopicEvent>,
  /** Membership changes of one user (joined, left, removed). */
  user: (userId: string) => `user:${userId}` as Topic<MembershipChange>,
  /** Online/offline transitions of every user; each subscription keeps those of the members it watches. */
  presence: () => 'presence' as Topic<PresenceChange>,
  /** Every instance's live figures, each second. */
  metrics: () => 'metrics' as Topic<InstanceReport>,
  /** Accounts erased: their sockets are closed on every instance. */
  accountClosed: () => 'account-closed' as Topic<{ userId: string }>,
  /** Sessions revoked (signed out, a refresh token reused, the account erased): their sockets close on every instance. */
  sessionRevoked: () => 'session-revoked' as Topic<{ sessionId: string; userId: string }>,
};
