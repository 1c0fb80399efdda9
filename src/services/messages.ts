import { randomUUID } from 'node:crypto';
import { violatedUniqueIndex } from '../database/postgres-errors';
import type { Sql } from '../database/sql';
import { isoOfTimestamp } from '../database/timestamps';
import type { MessageRecord, Timestamp, UserRecord } from '../entities/records';
import { ConversationKind } from '../entities/conversation.entity';
import { Message } from '../entities/message.entity';
import { BadUserInputError, ConflictError, ForbiddenError, NotFoundError } from '../errors';
import { toGlobalId } from '../pagination/global-id';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';
import { Topic, type MessagePayload, type PublicUserPayload, type StoredEvent } from '../events/topics';
import { messageWithAuthor } from '../loaders/message-with-author';
import { conversationClosed, conversationNotFound, publishCommitted, type ChangeDeps } from './changes';
import { checkBody } from './text';

/** The text-search configuration of messages_body_fts_idx: queries must use the same expression. */
const DOCUMENT = `to_tsvector('english', coalesce(m.body, ''))`;

/** Best match first (ts_rank, as float8 so cursors round-trip exactly), ties by id. */
const SEARCH_ORDER: KeyOrder = {
  columns: [
    { sql: `ts_rank(${DOCUMENT}, q)::float8`, type: 'float8' },
    { sql: 'm.id', type: 'uuid' },
  ],
  descending: true,
};

/**
 * Full-text search (web-search syntax: words, "phrases", -exclusions, or) over the messages of
 * conversations the viewer belongs to; deleted messages never match. Uses the GIN index.
 */
export async function searchMessages(
  sql: Sql,
  viewerId: string,
  query: string,
  conversationId: string | null,
  request: PageRequest,
  cursorKey: CursorKey | null,
): Promise<PageRows<MessageRecord>> {
  // Alone: a search may take long, and no cheap read should wait behind it on a shared connection.
  return loadPage<MessageRecord>({ rows: sql.alone }, {
    request,
    cursorKey,
    order: SEARCH_ORDER,
    from: `messages m JOIN memberships vm ON vm.conversation_id = m.conversation_id AND vm.user_id = $1
           CROSS JOIN websearch_to_tsquery('english', $2) AS q`,
    where: `${DOCUMENT} @@ q AND m.deleted_at IS NULL${conversationId ? ' AND m.conversation_id = $3' : ''}`,
    params: conversationId ? [viewerId, query, conversationId] : [viewerId, query],
    select: sql.columns(Message, 'm'),
  });
}

/** Newest first, ties by message id: message_mentions_user_newest_idx read backwards. */
const MENTION_ORDER: KeyOrder = {
  columns: [
    { sql: 'mm.created_at', type: 'timestamptz' },
    { sql: 'mm.message_id', type: 'uuid' },
  ],
  descending: true,
};

/**
 * The messages that mention the viewer, newest first, in conversations the viewer still belongs to
 * (a deleted message mentions nobody). Each comes with its author.
 */
export async function mentionsOf(sql: Sql, viewerId: string, request: PageRequest, cursorKey: CursorKey | null, onAuthor: (author: UserRecord) => void): Promise<PageRows<MessageRecord>> {
  const withAuthor = messageWithAuthor(sql, onAuthor);
  const page = await loadPage<MessageRecord>(sql, {
    request,
    cursorKey,
    order: MENTION_ORDER,
    from: `message_mentions mm JOIN memberships vm ON vm.conversation_id = mm.conversation_id AND vm.user_id = mm.user_id
           JOIN messages m ON m.id = mm.message_id JOIN users au ON au.id = m.author_id`,
    where: 'mm.user_id = $1',
    params: [viewerId],
    select: withAuthor.select,
  });
  withAuthor.attachAuthors(page.rows);
  return page;
}

export interface NewMessage {
  conversationId: string;
  body: string;
  /** The author's idempotency key (1..64 characters). */
  clientMessageId: string;
  /** A message of the same conversation this one replies to (raw id). */
  replyToId?: string | null;
}

/** What sending a message needs: a change's dependencies and the lean statement path. */
export type SendDeps = ChangeDeps & { sql: Sql };

/** The message, and whether this call stored it (false: a retry found the first one). */
export interface SentMessage {
  message: MessageRecord;
  created: boolean;
}

/** `parley_send_message`'s answer (migration 1732330000000), as a message row with its author. */
type SendRow = MessageRecord & { outcome: 'sent' | 'earlier' | 'not_found' | 'closed' | 'bad_reply' };

/**
 * A statement reading the message a write function returned (`r.message`) as a row with its author
 * joined, as messages-page reads them: `columns` first, `from` the function call aliased `r`, after
 * an optional `WITH` clause.
 */
function returnedMessageSql(sql: Sql, columns: string, from: string, withClause = ''): string {
  return `${withClause}SELECT ${columns}, ${messageWithAuthor(sql, () => undefined).select}, ${MENTIONED_USERS} AS "mentionedUsers"
    FROM ${from}
    LEFT JOIN LATERAL (SELECT (r.message).*) m ON true
    LEFT JOIN users au ON au.id = m.author_id`;
}

/**
 * The public fields of the users a write function answered as `r.mentioned`, as JSON (never their
 * e-mail addresses: these travel on the bus), by handle. Timestamps as PostgreSQL's text, as reads give them.
 */
const MENTIONED_USERS = `(SELECT coalesce(json_agg(json_build_object('id', u.id, 'handle', u.handle, 'displayName', u.display_name, 'role', u.role,
    'lastSeenAt', u.last_seen_at::text, 'createdAt', u.created_at::text, 'deletedAt', u.deleted_at::text) ORDER BY lower(u.handle)), '[]')
  FROM users u WHERE u.id = ANY (r.mentioned))`;

/**
 * Runs a statement of message rows; each message gets its author, and its mentions when the
 * statement read them, attached (a refusal's row has neither).
 */
async function messageRows<T extends MessageRecord>(sql: Sql, text: string, values: unknown[]): Promise<T[]> {
  const rows = await sql.alone<T & { mentionedUsers?: UserRecord[] }>(text, values);
  const messages = rows.filter((row) => row.id !== null);
  messageWithAuthor(sql, () => undefined).attachAuthors(messages);
  for (const row of rows) {
    if (row.mentionedUsers !== undefined && row.id !== null) row.mentions = row.mentionedUsers;
    delete row.mentionedUsers;
  }
  return rows;
}

let sendStatement: string | undefined;

/** The one statement: the function, and its message as a row with the author. */
function sendSql(sql: Sql): string {
  return (sendStatement ??= returnedMessageSql(sql, 'r.outcome', 'parley_send_message($1, $2, $3, $4, $5, NULL, $6) r'));
}

/** A retry: the first message sent with this key, which must have gone to the same conversation. */
function retried(existing: MessageRecord, input: NewMessage): MessageRecord {
  if (existing.conversationId !== input.conversationId) {
    throw new ConflictError(`clientMessageId ${JSON.stringify(input.clientMessageId)} was already used for a message in another conversation.`, {
      field: 'clientMessageId',
    });
  }
  if ((input.replyToId ?? null) !== existing.replyToId) {
    throw new ConflictError(`clientMessageId ${JSON.stringify(input.clientMessageId)} was already used for a message with another replyToId.`, { field: 'clientMessageId' });
  }
  return existing;
}

/**
 * Appends a message (MessageAdded at the conversation's next seq) in one statement, one round trip
 * to PostgreSQL: `parley_send_message` checks, locks, numbers and stores in its own transaction
 * (see the migration for the guarantees). Idempotent per author and `clientMessageId`: a retry
 * returns the first message and publishes nothing. Once it has committed, the event is published
 * with the message and its author's public fields, so that no instance reads them back to deliver it.
 */
export async function sendMessage(deps: SendDeps, authorId: string, input: NewMessage, maxLength: number): Promise<SentMessage> {
  const body = checkBody(input.body, maxLength);
  const { sql } = deps;
  let rows: SendRow[];
  try {
    rows = await messageRows<SendRow>(sql, sendSql(sql), [randomUUID(), input.conversationId, authorId, body, input.clientMessageId, input.replyToId ?? null]);
  } catch (error) {
    // A retry that raced this one on another conversation's lock committed first.
    if (violatedUniqueIndex(error) !== 'messages_author_client_message_id_key') throw error;
    rows = await messageRows<SendRow>(
      sql,
      `SELECT 'earlier' AS outcome, ${messageWithAuthor(sql, () => undefined).select} FROM messages m JOIN users au ON au.id = m.author_id WHERE m.author_id = $1 AND m.client_message_id = $2`,
      [authorId, input.clientMessageId],
    );
  }
  return settleSend(deps, rows[0], input);
}

/** What `parley_send_message` answered, as sendMessage's result (publishing a message it stored). */
function settleSend(deps: SendDeps, { outcome, ...message }: SendRow, input: NewMessage): SentMessage {
  switch (outcome) {
    case 'earlier':
      return { message: retried(message, input), created: false };
    case 'not_found':
      throw conversationNotFound(input.conversationId);
    case 'closed':
      throw conversationClosed();
    case 'bad_reply':
      throw new BadUserInputError('replyToId must name a message of this conversation.', { argument: 'replyToId' });
    case 'sent':
      publishCommitted(deps, [[Topic.conversation(message.conversationId), messageAdded(message)]]);
      return { message, created: true };
  }
}

/** A message from an external channel (an inbound webhook), as the job posts it. */
export interface InboundMessage {
  externalEventId: string;
  /** Raw conversation id. */
  conversationId: string;
  authorHandle: string;
  body: string;
  /** The idempotency key of the message the event becomes. */
  clientMessageId: string;
}

let inboundStatement: string | undefined;

/**
 * The inbound event's checks and `parley_send_message` in one statement: the function runs only
 * for an event not seen before, whose author's handle names a live account, into a SUPPORT
 * conversation (its own checks — membership, closed, the seq — follow as for any send).
 */
function inboundSql(sql: Sql): string {
  return (inboundStatement ??= returnedMessageSql(
    sql,
    'checked.seen AS "inboundSeen", checked.author_id AS "inboundAuthorId", checked.kind AS "inboundKind", r.outcome',
    `checked LEFT JOIN LATERAL (
      SELECT s.* FROM parley_send_message($1, $2, checked.author_id, $3, $4, $5) s
      WHERE NOT checked.seen AND checked.author_id IS NOT NULL AND checked.kind = '${ConversationKind.SUPPORT}'
    ) r ON true`,
    `WITH checked AS (
      SELECT EXISTS (SELECT 1 FROM inbound_events WHERE external_event_id = $5) AS seen,
        (SELECT u.id FROM users u WHERE lower(u.handle) = lower($6) AND u.deleted_at IS NULL) AS author_id,
        (SELECT c.kind FROM conversations c WHERE c.id = $2) AS kind)
    `,
  ));
}

type InboundRow = SendRow & { inboundSeen: boolean; inboundAuthorId: string | null; inboundKind: string | null };

/**
 * Posts an inbound event's message in one round trip (see `inboundSql`), recording the event with
 * it in the same transaction. 'seen' when the event was posted before; throws for an author or a
 * conversation that cannot take it, and as sendMessage does.
 */
export async function postInbound(deps: SendDeps, event: InboundMessage, maxLength: number): Promise<'posted' | 'seen'> {
  const body = checkBody(event.body, maxLength);
  const rows = await messageRows<InboundRow>(deps.sql, inboundSql(deps.sql), [randomUUID(), event.conversationId, body, event.clientMessageId, event.externalEventId, event.authorHandle.trim()]);
  const [{ inboundSeen, inboundAuthorId, inboundKind, ...row }] = rows;
  if (inboundSeen) return 'seen';
  if (!inboundAuthorId) throw new Error(`No user with handle ${JSON.stringify(event.authorHandle)}`);
  if (inboundKind !== ConversationKind.SUPPORT) throw new Error(`Conversation ${event.conversationId} is not a SUPPORT conversation`);
  settleSend(deps, row, event);
  return 'posted';
}

const isoOrNull = (value: Timestamp | null): string | null => (value === null ? null : isoOfTimestamp(value));

/** A user's public fields, as events carry them on the bus (never the e-mail address). */
function renderedUser(user: UserRecord): PublicUserPayload {
  return {
    id: user.id,
    handle: user.handle,
    displayName: user.displayName,
    role: user.role,
    lastSeenAt: isoOrNull(user.lastSeenAt),
    createdAt: isoOfTimestamp(user.createdAt),
    deletedAt: isoOrNull(user.deletedAt),
  };
}

/** A message with its author's and its mentioned users' public fields, as events carry them on the bus. */
function renderedMessage(message: MessageRecord): MessagePayload {
  return {
    id: message.id,
    conversationId: message.conversationId,
    authorId: message.authorId,
    seq: message.seq,
    body: message.body,
    clientMessageId: message.clientMessageId,
    createdAt: isoOfTimestamp(message.createdAt),
    editedAt: isoOrNull(message.editedAt),
    deletedAt: isoOrNull(message.deletedAt),
    replyToId: message.replyToId,
    author: renderedUser(message.author!),
    mentions: (message.mentions ?? []).map(renderedUser),
  };
}

/** The event of a message just stored, carrying what subscribers render (see `MessagePayload`). */
function messageAdded(stored: MessageRecord): StoredEvent {
  const message = renderedMessage(stored);
  // The message was stored at the event's time (parley_send_message gives both the same now()).
  return { conversationId: message.conversationId, seq: message.seq, type: 'MessageAdded', occurredAt: message.createdAt, payload: { messageId: message.id, message } };
}

/** What `parley_change_message` does to a message (migration 1732340000000). */
export type MessageAction = 'edit' | 'delete' | 'react' | 'unreact';

/** `parley_change_message`'s answer: the message as it is now, with its author, and the event's seq and time if it changed. */
type ChangeRow = MessageRecord & {
  outcome: 'not_found' | 'not_author' | 'deleted' | 'closed' | 'unchanged' | 'changed';
  eventSeq: number | null;
  eventAt: Timestamp | null;
};

let changeStatement: string | undefined;

function changeSql(sql: Sql): string {
  return (changeStatement ??= returnedMessageSql(sql, 'r.outcome, r.seq AS "eventSeq", r.occurred_at AS "eventAt"', 'parley_change_message($1, $2, $3, $4) r'));
}

/**
 * Changes a message in one statement, one round trip to PostgreSQL: `parley_change_message` locks
 * the conversation (the viewer must belong to it, else NOT_FOUND as for a message that does not
 * exist), decides on the message as it is under that lock, changes it and appends the event (see
 * the migration for the guarantees). Once it has committed, the event is published; a change that
 * changed nothing publishes nothing. Returns the message as it is now, with its author.
 */
export async function changeMessage(deps: SendDeps, viewerId: string, messageId: string, action: MessageAction, value: string | null = null): Promise<MessageRecord> {
  const rows = await messageRows<ChangeRow>(deps.sql, changeSql(deps.sql), [messageId, viewerId, action, value]);
  const [{ outcome, eventSeq, eventAt, ...message }] = rows;
  switch (outcome) {
    case 'not_found':
      throw new NotFoundError(`No message ${toGlobalId('Message', messageId)} that you can see.`);
    case 'not_author':
      throw new ForbiddenError(`Only the author of a message can ${action} it.`);
    case 'deleted':
      throw new ForbiddenError(action === 'react' ? 'This message was deleted; it cannot take reactions.' : `This message was deleted; it cannot be ${action === 'edit' ? 'edited' : 'deleted again'}.`);
    case 'closed':
      throw conversationClosed();
    case 'unchanged':
      return message;
    case 'changed':
      publishCommitted(deps, [[Topic.conversation(message.conversationId), changedEvent(message, action, value, eventSeq!, isoOfTimestamp(eventAt!), viewerId)]]);
      return message;
  }
}

/** The event a change appended, as subscribers get it: an edit carries the message as it is now. */
function changedEvent(message: MessageRecord, action: MessageAction, value: string | null, seq: number, occurredAt: string, viewerId: string): StoredEvent {
  const at = { conversationId: message.conversationId, seq, occurredAt };
  const messageId = message.id;
  switch (action) {
    case 'edit':
      return { ...at, type: 'MessageEdited', payload: { messageId, message: renderedMessage(message) } };
    case 'delete':
      return { ...at, type: 'MessageDeleted', payload: { messageId } };
    case 'react':
    case 'unreact':
      return { ...at, type: 'ReactionChanged', payload: { messageId, userId: viewerId, emoji: value!, added: action === 'react' } };
  }
}

/** Replaces the body (author only, open conversation; MessageEdited). The same body again changes nothing. */
export function editMessage(deps: SendDeps, viewerId: string, messageId: string, newBody: string, maxLength: number): Promise<MessageRecord> {
  return changeMessage(deps, viewerId, messageId, 'edit', checkBody(newBody, maxLength));
}

/**
 * Soft delete (author only, open conversation; MessageDeleted): the row and its seq stay and the
 * API shows no body from now on; the stored body is erased by the retention job after
 * RETENTION_DELETED_DAYS. Deleting twice changes nothing.
 */
export function deleteMessage(deps: SendDeps, viewerId: string, messageId: string): Promise<MessageRecord> {
  return changeMessage(deps, viewerId, messageId, 'delete');
}
