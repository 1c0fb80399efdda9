import type { EntityManager } from 'typeorm';
import { Conversation, ConversationKind } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { BadUserInputError, ForbiddenError } from '../errors';
import { queryPrimary, withPrimary } from '../database/primary';
import { Topic } from '../events/topics';
import { announce, commitChange, conversationNotFound, lockConversation, requireOpen, requireOwner, type Change, type ChangeDeps, type LockedConversation } from './changes';
import { join, requireUsers } from './conversations';

function requireGroup(conversation: LockedConversation): void {
  if (conversation.kind === ConversationKind.DIRECT) throw new ForbiddenError('A DIRECT conversation always has exactly its two members.');
}

function reload(manager: EntityManager, conversationId: string): Promise<Conversation> {
  return manager.getRepository(Conversation).findOneByOrFail({ id: conversationId });
}

/** Adds a member (OWNER only); adding someone who is already a member changes nothing. */
export async function addMember(deps: ChangeDeps, viewerId: string, conversationId: string, userId: string): Promise<Conversation> {
  return commitChange(deps, async (change) => {
    await requireUsers(change.manager, [userId]);
    const conversation = await lockConversation(change.manager, conversationId, viewerId);
    requireGroup(conversation);
    requireOwner(conversation, 'add members');
    await join(change, conversationId, userId, MemberRole.MEMBER);
    return reload(change.manager, conversationId);
  });
}

/** Removes a member (OWNER only); their live subscriptions end with FORBIDDEN. Removing a non-member changes nothing. */
export async function removeMember(deps: ChangeDeps, viewerId: string, conversationId: string, userId: string): Promise<Conversation> {
  if (userId === viewerId) throw new BadUserInputError('To remove yourself, use leaveConversation.', { field: 'userId' });
  return commitChange(deps, async (change) => {
    const conversation = await lockConversation(change.manager, conversationId, viewerId);
    requireGroup(conversation);
    requireOwner(conversation, 'remove members');
    await requireUsers(change.manager, [userId], { includeErased: true });
    await leave(change, conversationId, userId);
    return reload(change.manager, conversationId);
  });
}

/**
 * The viewer leaves. When the last OWNER leaves a conversation that still has members, the member
 * who joined first becomes OWNER, so someone can still manage it.
 */
export async function leaveConversation(deps: ChangeDeps, viewerId: string, conversationId: string): Promise<boolean> {
  return commitChange(deps, async (change) => {
    const conversation = await lockConversation(change.manager, conversationId, viewerId);
    requireGroup(conversation);
    await departFrom(change, conversationId, viewerId);
    return true;
  });
}

/** Takes a user out of a conversation whose lock the caller holds, handing OWNER on if they held it last. */
export async function departFrom(change: Change, conversationId: string, userId: string): Promise<void> {
  await leave(change, conversationId, userId);
  await change.manager.query(
    `UPDATE memberships SET role = $2 WHERE conversation_id = $1 AND user_id = (
       SELECT user_id FROM memberships WHERE conversation_id = $1 ORDER BY joined_at, user_id LIMIT 1)
     AND NOT EXISTS (SELECT 1 FROM memberships WHERE conversation_id = $1 AND role = $2)`,
    [conversationId, MemberRole.OWNER],
  );
}

async function leave(change: Change, conversationId: string, userId: string): Promise<void> {
  const [, deleted] = await change.manager.query(`DELETE FROM memberships WHERE conversation_id = $1 AND user_id = $2`, [conversationId, userId]);
  if (deleted === 0) return;
  await change.append(conversationId, 'MemberLeft', { userId });
  change.publish(Topic.user(userId), { conversationId, joined: false });
}

/**
 * Moves the viewer's read marker forward to `seq` (never backward) and announces a ReadReceipt.
 * A seq beyond the conversation's last is refused: the client cannot have read it.
 */
export async function markRead(deps: ChangeDeps, viewerId: string, conversationId: string, seq: number): Promise<Conversation> {
  if (!Number.isInteger(seq) || seq < 0) throw new BadUserInputError(`seq must be a whole number ≥ 0, got ${seq}.`, { field: 'seq' });
  const [row] = await deps.dataSource.query(
    `WITH target AS (
       SELECT m.last_read_seq, c.last_seq FROM memberships m JOIN conversations c ON c.id = m.conversation_id
       WHERE m.conversation_id = $1 AND m.user_id = $2
     ), moved AS (
       UPDATE memberships SET last_read_seq = $3 WHERE conversation_id = $1 AND user_id = $2
         AND last_read_seq < $3 AND $3 <= (SELECT last_seq FROM target) RETURNING last_read_seq
     )
     SELECT t.last_seq AS "lastSeq", (SELECT count(*) FROM moved)::int AS moved FROM target t`,
    [conversationId, viewerId, seq],
  );
  if (!row) throw conversationNotFound(conversationId);
  if (seq > row.lastSeq) {
    throw new BadUserInputError(`seq ${seq} is beyond the conversation's last seq, ${row.lastSeq}.`, { field: 'seq' });
  }
  if (row.moved > 0) {
    const occurredAt = new Date().toISOString();
    announce(deps, Topic.conversation(conversationId), { conversationId, seq: null, type: 'ReadReceipt', occurredAt, payload: { userId: viewerId, lastReadSeq: seq } });
  }
  return withPrimary(deps.dataSource, (manager) => manager.getRepository(Conversation).findOneByOrFail({ id: conversationId }));
}

/** Announces that the viewer started or stopped typing. Nothing is stored; subscribers expire a `true` that is not refreshed. */
export async function setTyping(deps: ChangeDeps, viewerId: string, conversationId: string, typing: boolean): Promise<boolean> {
  const [conversation] = await queryPrimary<LockedConversation>(
    deps.dataSource,
    `SELECT c.id, c.kind, c.status, m.role FROM conversations c JOIN memberships m ON m.conversation_id = c.id AND m.user_id = $2 WHERE c.id = $1`,
    [conversationId, viewerId],
  );
  if (!conversation) throw conversationNotFound(conversationId);
  requireOpen(conversation);
  const occurredAt = new Date().toISOString();
  announce(deps, Topic.conversation(conversationId), { conversationId, seq: null, type: 'TypingChanged', occurredAt, payload: { userId: viewerId, typing } });
  return true;
}
