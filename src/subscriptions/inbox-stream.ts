import type { DataSource } from 'typeorm';
import { queryPrimary } from '../database/primary';
import { EventQueue, type QueueBound } from './event-queue';
import type { EventBus } from '../events/bus';
import { Topic, type ConversationTopicEvent, type MembershipChange } from '../events/topics';

export interface InboxItem {
  conversationId: string;
  /** The viewer left or was removed. */
  removed: boolean;
}

/** Whether a conversation event changes what the viewer's inbox shows (last message, unread count, members, status). */
function changesInbox(event: ConversationTopicEvent, viewerId: string): boolean {
  switch (event.type) {
    case 'MessageAdded':
    case 'MessageEdited':
    case 'MessageDeleted':
    case 'MemberJoined':
    case 'ConversationStatusChanged':
      return true;
    case 'MemberLeft':
      return event.payload.userId !== viewerId; // the viewer's own leaving arrives on their user topic
    case 'ReadReceipt':
      return event.payload.userId === viewerId;
    case 'ReactionChanged':
    case 'TypingChanged':
      return false;
  }
}

/**
 * The viewer's conversations as they change. It follows the topic of each conversation the viewer
 * belongs to, so a message costs one publish however many inboxes show it, plus the viewer's own
 * user topic, which says when to start or stop following one. User-topic changes that arrive while
 * the memberships are first read are applied after that read, so a stale read cannot re-follow a
 * conversation the viewer just left.
 */
export async function openInboxStream({ bus, dataSource, viewerId, bound }: { bus: EventBus; dataSource: DataSource; viewerId: string; bound?: QueueBound }): Promise<EventQueue<InboxItem>> {
  const following = new Map<string, Promise<() => void>>();
  let pending: MembershipChange[] | null = [];
  const queue = new EventQueue<InboxItem>(() => {
    stopUser();
    for (const stop of following.values()) void stop.then((unlisten) => unlisten(), () => undefined);
    following.clear();
  }, bound);
  const follow = (conversationId: string) => {
    if (following.has(conversationId) || !queue.isOpen) return;
    const listening = bus.listen(Topic.conversation(conversationId), (event) => {
      if (changesInbox(event, viewerId)) queue.push({ conversationId, removed: false });
    });
    listening.catch((error: unknown) => queue.fail(error));
    following.set(conversationId, listening);
  };
  const unfollow = (conversationId: string) => {
    void following.get(conversationId)?.then((unlisten) => unlisten(), () => undefined);
    following.delete(conversationId);
  };
  const apply = ({ conversationId, joined }: MembershipChange) => {
    if (joined) follow(conversationId);
    else unfollow(conversationId);
    queue.push({ conversationId, removed: !joined });
  };
  const stopUser = await bus.listen(Topic.user(viewerId), (change) => (pending ? pending.push(change) : apply(change)));
  try {
    const rows = await queryPrimary<{ id: string }>(dataSource, `SELECT conversation_id AS id FROM memberships WHERE user_id = $1`, [viewerId]);
    for (const { id } of rows) follow(id);
    await Promise.all(following.values());
    const changes = pending;
    pending = null;
    changes.forEach(apply);
  } catch (error) {
    await queue.return();
    throw error;
  }
  return queue;
}
