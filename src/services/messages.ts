import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { violatedUniqueIndex } from '../database/postgres-errors';
import { withPrimary } from '../database/primary';
import type { Sql } from '../database/sql';
import type { MessageRecord } from '../entities/records';
import { Message } from '../entities/message.entity';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors';
import { toGlobalId } from '../pagination/global-id';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';
import { commitChange, lockConversation, requireOpen, type Change, type ChangeDeps, type LockedConversation } from './changes';
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
  return loadPage<MessageRecord>(sql, {
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

export interface NewMessage {
  conversationId: string;
  body: string;
  /** The author's idempotency key (1..64 characters). */
  clientMessageId: string;
}

function findByClientId(manager: EntityManager, authorId: string, clientMessageId: string): Promise<Message | null> {
  return manager.getRepository(Message).findOneBy({ authorId, clientMessageId });
}

/** A retry: the first message sent with this key, which must have gone to the same conversation. */
function retried(existing: Message, input: NewMessage): Message {
  if (existing.conversationId !== input.conversationId) {
    throw new ConflictError(`clientMessageId ${JSON.stringify(input.clientMessageId)} was already used for a message in another conversation.`, {
      field: 'clientMessageId',
    });
  }
  return existing;
}

/**
 * Appends a message (MessageAdded at the conversation's next seq). Idempotent per author and
 * `clientMessageId`: a retry returns the first message and publishes nothing. Concurrent retries
 * queue on the conversation's row lock and find the first one once it has committed; a retry
 * racing on another conversation's lock is caught by the unique index instead.
 */
export async function sendMessage(
  deps: ChangeDeps,
  authorId: string,
  input: NewMessage,
  maxLength: number,
  /** Runs in the message's transaction once it is stored (not for a retry that finds an earlier one). */
  alsoRecord?: (manager: EntityManager, message: Message) => Promise<unknown>,
): Promise<Message> {
  const body = checkBody(input.body, maxLength);
  const earlier = await withPrimary(deps.dataSource, (manager) => findByClientId(manager, authorId, input.clientMessageId));
  if (earlier) return retried(earlier, input);
  try {
    return await commitChange(deps, async (change) => {
      const conversation = await lockConversation(change.manager, input.conversationId, authorId);
      const concurrent = await findByClientId(change.manager, authorId, input.clientMessageId);
      if (concurrent) return retried(concurrent, input);
      requireOpen(conversation);
      const id = randomUUID();
      const event = await change.append(input.conversationId, 'MessageAdded', { messageId: id }, { touchesLastMessage: true });
      const [row] = await change.manager.query(
        `INSERT INTO messages (id, conversation_id, author_id, seq, body, client_message_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${entityColumns(deps.dataSource, Message, 'messages')}`,
        [id, input.conversationId, authorId, event.seq, body, input.clientMessageId, event.occurredAt],
      );
      const message = hydrate(Message, row);
      await alsoRecord?.(change.manager, message);
      return message;
    });
  } catch (error) {
    if (violatedUniqueIndex(error) !== 'messages_author_client_message_id_key') throw error;
    return retried((await withPrimary(deps.dataSource, (manager) => findByClientId(manager, authorId, input.clientMessageId)))!, input);
  }
}

/**
 * Locks the message's conversation (the viewer must belong to it, else NOT_FOUND as for a message
 * that does not exist), then runs `work` on the message as it is under that lock.
 */
export async function changeMessage<T>(
  deps: ChangeDeps,
  viewerId: string,
  messageId: string,
  work: (change: Change, message: Message, conversation: LockedConversation) => Promise<T>,
): Promise<T> {
  const notFound = () => new NotFoundError(`No message ${toGlobalId('Message', messageId)} that you can see.`);
  const located = await withPrimary(deps.dataSource, (manager) => manager.getRepository(Message).findOneBy({ id: messageId }));
  if (!located) throw notFound();
  return commitChange(deps, async (change) => {
    const conversation = await lockConversation(change.manager, located.conversationId, viewerId).catch((error: unknown) => {
      throw error instanceof NotFoundError ? notFound() : error;
    });
    const message = await change.manager.getRepository(Message).findOneByOrFail({ id: messageId });
    return work(change, message, conversation);
  });
}

function requireAuthor(message: Message, viewerId: string, what: string): void {
  if (message.authorId !== viewerId) throw new ForbiddenError(`Only the author of a message can ${what} it.`);
  if (message.deletedAt) throw new ForbiddenError(`This message was deleted; it cannot be ${what === 'edit' ? 'edited' : 'deleted again'}.`);
}

/** Replaces the body (author only; MessageEdited). The same body again changes nothing. */
export function editMessage(deps: ChangeDeps, viewerId: string, messageId: string, newBody: string, maxLength: number): Promise<Message> {
  const body = checkBody(newBody, maxLength);
  return changeMessage(deps, viewerId, messageId, async (change, message, conversation) => {
    requireAuthor(message, viewerId, 'edit');
    requireOpen(conversation);
    if (message.body === body) return message;
    await change.manager.query(`UPDATE messages SET body = $2, edited_at = now() WHERE id = $1`, [messageId, body]);
    await change.append(message.conversationId, 'MessageEdited', { messageId });
    return change.manager.getRepository(Message).findOneByOrFail({ id: messageId });
  });
}

/**
 * Soft delete (author only; MessageDeleted): the row and its seq stay and the API shows no body
 * from now on; the stored body is erased by the retention job after RETENTION_DELETED_DAYS.
 * Deleting twice changes nothing.
 */
export function deleteMessage(deps: ChangeDeps, viewerId: string, messageId: string): Promise<Message> {
  return changeMessage(deps, viewerId, messageId, async (change, message, conversation) => {
    if (message.deletedAt && message.authorId === viewerId) return message;
    requireAuthor(message, viewerId, 'delete');
    requireOpen(conversation);
    await change.manager.query(`UPDATE messages SET deleted_at = now() WHERE id = $1`, [messageId]);
    await change.append(message.conversationId, 'MessageDeleted', { messageId });
    return change.manager.getRepository(Message).findOneByOrFail({ id: messageId });
  });
}
