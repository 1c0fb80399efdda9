import type { DataSource } from 'typeorm';
import { ForbiddenError } from '../errors';
import { queryPrimary } from '../database/primary';
import { EventQueue, type QueueBound } from './event-queue';
import type { EventBus } from '../events/bus';
import { Topic, type PresenceChange } from '../events/topics';

/**
 * Online/offline transitions of a conversation's members. The member list is read once and kept
 * current from the conversation's MemberJoined/MemberLeft events; the viewer's own removal ends the
 * stream with FORBIDDEN.
 */
export async function openPresenceStream(options: {
  bus: EventBus;
  dataSource: DataSource;
  conversationId: string;
  viewerId: string;
  bound?: QueueBound;
}): Promise<EventQueue<PresenceChange>> {
  const { bus, dataSource, conversationId, viewerId, bound } = options;
  const members = new Set<string>();
  const stops: (() => void)[] = [];
  const queue = new EventQueue<PresenceChange>(() => stops.forEach((stop) => stop()), bound);
  try {
    stops.push(
      await bus.listen(Topic.conversation(conversationId), (event) => {
        if (event.type === 'MemberJoined') members.add(event.payload.userId);
        if (event.type !== 'MemberLeft') return;
        members.delete(event.payload.userId);
        if (event.payload.userId === viewerId) queue.fail(new ForbiddenError('You are no longer a member of this conversation.'));
      }),
    );
    stops.push(
      await bus.listen(Topic.presence(), (change) => {
        if (members.has(change.userId)) queue.push(change);
      }),
    );
    const rows = await queryPrimary<{ userId: string }>(dataSource, `SELECT user_id AS "userId" FROM memberships WHERE conversation_id = $1`, [conversationId]);
    for (const { userId } of rows) members.add(userId);
    if (!members.has(viewerId)) throw new ForbiddenError('Only members can follow a conversation.');
  } catch (error) {
    await queue.return();
    throw error;
  }
  return queue;
}
