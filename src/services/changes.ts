import type { DataSource, EntityManager } from 'typeorm';
import { ConversationKind, ConversationStatus } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { ForbiddenError, NotFoundError } from '../errors';
import type { Logger } from '../observability/logger';
import { toGlobalId } from '../pagination/global-id';
import type { EventBus } from '../subscriptions/pubsub';
import { Topic, type StoredEvent, type StoredEventPayloads, type StoredEventType } from '../subscriptions/topics';
import { appendEvent, type AppendOptions } from './event-log';

/** What every change needs: the primary, the bus it announces itself on, and a log for what goes wrong after commit. */
export interface ChangeDeps {
  dataSource: DataSource;
  bus: EventBus;
  logger: Logger;
}

export interface Change {
  manager: EntityManager;
  /** Appends to the conversation's event log; the event is published on the conversation's topic after commit. */
  append<T extends StoredEventType>(conversationId: string, type: T, payload: StoredEventPayloads[T], options?: AppendOptions): Promise<StoredEvent>;
  /** Publishes on `topic` after commit (and not at all if the change rolls back). */
  publish<P>(topic: Topic<P>, payload: P): void;
}

/**
 * Runs `work` in one transaction and, once it has committed, publishes what it announced, in order
 * (delivery contract steps 1–2). Publishing is not awaited: the change is already durable and
 * acknowledged, and a bus that is down (Redis restarting) must not hold the mutation up. An event
 * the bus loses is backfilled from the log by the subscriber that sees the gap.
 */
export async function commitChange<T>(deps: ChangeDeps, work: (change: Change) => Promise<T>): Promise<T> {
  const outbox: [Topic<unknown>, unknown][] = [];
  const result = await deps.dataSource.transaction((manager) =>
    work({
      manager,
      async append(conversationId, type, payload, options) {
        const event = await appendEvent(manager, conversationId, type, payload, options);
        outbox.push([Topic.conversation(conversationId), event]);
        return event;
      },
      publish: (topic, payload) => outbox.push([topic as Topic<unknown>, payload]),
    }),
  );
  for (const [topic, payload] of outbox) announce(deps, topic, payload);
  return result;
}

/**
 * Publishes without waiting: a bus that is down must not hold up the caller. Stored events it loses
 * are backfilled from the log; ephemeral ones (typing, receipts, presence) are lost, by contract.
 */
export function announce<P>(deps: Pick<ChangeDeps, 'bus' | 'logger'>, topic: Topic<P>, payload: P): void {
  deps.bus.publishTo(topic, payload).catch((error: unknown) => deps.logger.warn({ err: error, topic }, 'could not publish'));
}

export interface LockedConversation {
  id: string;
  kind: ConversationKind;
  status: ConversationStatus;
  /** The viewer's role in it. */
  role: MemberRole;
}

/**
 * Locks a conversation the viewer belongs to for the rest of the transaction, so every change to
 * one conversation runs one at a time (the same lock `appendEvent` takes, taken first). A
 * conversation the viewer does not belong to is NOT_FOUND, exactly like one that does not exist.
 */
export async function lockConversation(manager: EntityManager, conversationId: string, viewerId: string): Promise<LockedConversation> {
  const [row] = await manager.query(
    `SELECT c.id, c.kind, c.status, m.role FROM conversations c
     JOIN memberships m ON m.conversation_id = c.id AND m.user_id = $2
     WHERE c.id = $1 FOR UPDATE OF c`,
    [conversationId, viewerId],
  );
  if (!row) throw conversationNotFound(conversationId);
  return row as LockedConversation;
}

export function conversationNotFound(conversationId: string): NotFoundError {
  return new NotFoundError(`No conversation ${toGlobalId('Conversation', conversationId)} that you belong to.`);
}

export function requireOwner(conversation: LockedConversation, what: string): void {
  if (conversation.role !== MemberRole.OWNER) throw new ForbiddenError(`Only the conversation's owner can ${what}.`);
}

export function requireOpen(conversation: LockedConversation): void {
  if (conversation.status === ConversationStatus.CLOSED) throw new ForbiddenError('This conversation is closed; its owner can reopen it.');
}
