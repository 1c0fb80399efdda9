import type { DataSource, EntityManager } from 'typeorm';
import { ConversationKind, ConversationStatus } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { ForbiddenError, NotFoundError } from '../errors';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { toGlobalId } from '../pagination/global-id';
import type { EventBus } from '../events/bus';
import { Topic, type StoredEvent, type StoredEventPayloads, type StoredEventType } from '../events/topics';
import { appendEvent, type AppendOptions } from '../events/event-log';

/** What every change needs: the primary, the bus it announces itself on, and a log for what goes wrong after commit. */
export interface ChangeDeps {
  dataSource: DataSource;
  bus: EventBus;
  logger: Logger;
  /** Counts committed events (Prometheus, and the messages-per-minute figure). */
  metrics?: Pick<Metrics, 'eventPublished'>;
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
 * acknowledged, and a bus that is down (Redis restarting) must not hold the mutation up. A publish
 * that fails is retried for a while (subscribers drop the duplicates by seq); an event the bus
 * loses anyway is backfilled from the log when the subscriber sees the gap or reconnects.
 */
export async function commitChange<T>(deps: ChangeDeps, work: (change: Change) => Promise<T>): Promise<T> {
  const outbox: Outbox = [];
  const result = await deps.dataSource.transaction((manager) =>
    work({
      manager,
      async append(conversationId, type, payload, options) {
        const event = await appendEvent(manager, conversationId, type, payload, options);
        // What the bus carries beyond the stored payload (a message's content for its subscribers).
        const published = options?.carries ? ({ ...event, payload: { ...event.payload, ...options.carries } } as StoredEvent) : event;
        outbox.push([Topic.conversation(conversationId), published]);
        return event;
      },
      publish: (topic, payload) => outbox.push([topic as Topic<unknown>, payload]),
    }),
  );
  publishCommitted(deps, outbox);
  return result;
}

/** What a change publishes once it has committed, in order. */
export type Outbox = [Topic<unknown>, unknown][];

/**
 * Publishes what a committed change announced, in order, without waiting (see `commitChange`); for
 * changes made in one statement (sendMessage) as much as for those made in a transaction.
 */
export function publishCommitted(deps: ChangeDeps, outbox: Outbox): void {
  for (const [topic, payload] of outbox) {
    const type = (payload as { type?: unknown }).type;
    if (typeof type === 'string' && (payload as { seq?: unknown }).seq != null) deps.metrics?.eventPublished(type);
    void publishDurably(deps, topic, payload);
  }
}

/** Backoff between attempts to publish a committed change: about two minutes in all. */
const RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000];

async function publishDurably<P>(deps: Pick<ChangeDeps, 'bus' | 'logger'>, topic: Topic<P>, payload: P): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.bus.publishTo(topic, payload);
    } catch (error) {
      if (attempt >= RETRY_DELAYS_MS.length) {
        deps.logger.error({ err: error, topic }, 'gave up publishing a committed change; subscribers will find it in the event log');
        return;
      }
      deps.logger.warn({ err: error, topic, attempt }, 'could not publish a committed change; retrying');
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]).unref());
    }
  }
}

/**
 * Publishes without waiting and without retrying, for ephemeral events (typing, receipts,
 * presence), which the contract lets go when the bus is down.
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
 *
 * The membership is read in a second statement, after the lock is granted: a statement that waits
 * for a row lock re-reads only the locked row, so a membership joined in the same statement would
 * be the one seen before the wait — a member removed meanwhile would still pass.
 */
export async function lockConversation(manager: EntityManager, conversationId: string, viewerId: string): Promise<LockedConversation> {
  const [conversation] = await manager.query(`SELECT id, kind, status FROM conversations WHERE id = $1 FOR UPDATE`, [conversationId]);
  const [membership] = conversation
    ? await manager.query(`SELECT role FROM memberships WHERE conversation_id = $1 AND user_id = $2`, [conversationId, viewerId])
    : [];
  if (!membership) throw conversationNotFound(conversationId);
  return { ...conversation, role: membership.role } as LockedConversation;
}

export function conversationNotFound(conversationId: string): NotFoundError {
  return new NotFoundError(`No conversation ${toGlobalId('Conversation', conversationId)} that you belong to.`);
}

export function requireOwner(conversation: LockedConversation, what: string): void {
  if (conversation.role !== MemberRole.OWNER) throw new ForbiddenError(`Only the conversation's owner can ${what}.`);
}

export function requireOpen(conversation: LockedConversation): void {
  if (conversation.status === ConversationStatus.CLOSED) throw conversationClosed();
}

export function conversationClosed(): ForbiddenError {
  return new ForbiddenError('This conversation is closed; its owner can reopen it.');
}
