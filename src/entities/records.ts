import type { ConversationKind, ConversationStatus } from './conversation.entity';
import type { MemberRole } from './membership.entity';
import type { Role } from './user.entity';

/**
 * A point in time as a read path hands it to GraphQL: a Date, or PostgreSQL's own text for it
 * (`2026-12-01 10:00:00.123456+00`), which the DateTime scalar turns into ISO text only if a client
 * selected it (database/timestamps.ts). Reads that only feed answers never build a Date per row for nothing.
 */
export type Timestamp = Date | string;

/*
 * What read paths hand to GraphQL: plain rows straight from node-postgres (see database/sql.ts),
 * with the entities' property names and timestamps as PostgreSQL's text. Entity instances, which
 * writes return, fit these shapes too, so a resolver takes either.
 */

/** A user as answers show them: never the password hash. */
export interface UserRecord {
  id: string;
  handle: string;
  displayName: string;
  email: string;
  role: Role;
  lastSeenAt: Timestamp | null;
  createdAt: Timestamp;
  deletedAt: Timestamp | null;
}

export interface ConversationRecord {
  id: string;
  kind: ConversationKind;
  status: ConversationStatus;
  title: string | null;
  createdById: string;
  createdAt: Timestamp;
  lastSeq: number;
  lastMessageAt: Timestamp | null;
}

export interface MessageRecord {
  id: string;
  conversationId: string;
  authorId: string;
  seq: number;
  body: string | null;
  clientMessageId: string | null;
  createdAt: Timestamp;
  editedAt: Timestamp | null;
  deletedAt: Timestamp | null;
  /** The message of the same conversation it replies to. */
  replyToId: string | null;
  /** Its author, when the read that found the message selected them too. */
  author?: UserRecord;
  /** The members it mentions, when the write or event that carries the message had them. */
  mentions?: UserRecord[];
}

export interface MembershipRecord {
  conversationId: string;
  userId: string;
  role: MemberRole;
  lastReadSeq: number;
  unreadMessages: number;
  unreadMentions: number;
  joinedAt: Timestamp;
}
