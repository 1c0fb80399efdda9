import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { Sql } from '../database/sql';
import { Conversation, ConversationKind, type ConversationStatus } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import type { Timestamp, ConversationRecord, MembershipRecord } from '../entities/records';
import { BadUserInputError, NotFoundError } from '../errors';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import { toGlobalId } from '../pagination/global-id';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';
import { Topic } from '../events/topics';
import { commitChange, lockConversation, requireOwner, type Change, type ChangeDeps } from './changes';

/** Most recent activity first: the last message, else creation; ties by id. */
const INBOX_ORDER: KeyOrder = {
  columns: [
    { sql: 'coalesce(c.last_message_at, c.created_at)', type: 'timestamptz' },
    { sql: 'c.id', type: 'uuid' },
  ],
  descending: true,
};

export interface InboxRow {
  conversation: ConversationRecord;
  /** The viewer's membership, selected alongside so no second look-up is needed to authorize. */
  membership: MembershipRecord;
}

/** One page of the viewer's conversations, optionally of one status. */
export async function listViewerConversations(
  sql: Sql,
  viewerId: string,
  status: ConversationStatus | null,
  request: PageRequest,
  cursorKey: CursorKey | null,
): Promise<PageRows<InboxRow>> {
  const page = await loadPage<ConversationRecord & { __role: MemberRole; __lastReadSeq: number; __unreadMessages: number; __unreadMentions: number; __joinedAt: Timestamp }>(sql, {
    request,
    cursorKey,
    order: INBOX_ORDER,
    from: 'memberships vm JOIN conversations c ON c.id = vm.conversation_id',
    where: status ? 'vm.user_id = $1 AND c.status = $2' : 'vm.user_id = $1',
    params: status ? [viewerId, status] : [viewerId],
    select: `${sql.columns(Conversation, 'c', { omit: ['directKey'] })}, vm.role AS "__role", vm.last_read_seq AS "__lastReadSeq", vm.unread_messages AS "__unreadMessages", vm.unread_mentions AS "__unreadMentions", vm.joined_at AS "__joinedAt"`,
  });
  return {
    beyond: page.beyond,
    keys: page.keys,
    rows: page.rows.map((conversation) => ({
      conversation,
      membership: {
        conversationId: conversation.id,
        userId: viewerId,
        role: conversation.__role,
        lastReadSeq: conversation.__lastReadSeq,
        unreadMessages: conversation.__unreadMessages,
        unreadMentions: conversation.__unreadMentions,
        joinedAt: conversation.__joinedAt,
      },
    })),
  };
}

export interface NewConversation {
  kind: ConversationKind;
  title: string | null;
  /** The other members (user ids); the creator is added first, as OWNER. */
  memberIds: string[];
}

/**
 * Creates a conversation with its members, each joining with a MemberJoined event (seq 1..n).
 * A DIRECT conversation has exactly one other member and is unique per pair: creating it again
 * returns the first one, also when two creates race (the partial unique index on direct_key decides).
 */
export async function createConversation(deps: ChangeDeps, creatorId: string, input: NewConversation): Promise<Conversation> {
  const others = [...new Set(input.memberIds)].filter((id) => id !== creatorId);
  if (input.kind === ConversationKind.DIRECT && others.length !== 1) {
    throw new BadUserInputError(`A DIRECT conversation needs exactly one other member, got ${others.length}.`, { field: 'memberIds' });
  }
  const title = input.title?.trim() || null;
  return commitChange(deps, async (change) => {
    await requireUsers(change.manager, others);
    const directKey = input.kind === ConversationKind.DIRECT ? [creatorId, others[0]].sort().join(':') : null;
    const id = randomUUID();
    const inserted = await change.manager.query(
      `INSERT INTO conversations (id, kind, title, created_by_id, direct_key) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (direct_key) WHERE direct_key IS NOT NULL DO NOTHING RETURNING id`,
      [id, input.kind, title, creatorId, directKey],
    );
    if (inserted.length === 0) return change.manager.getRepository(Conversation).findOneByOrFail({ directKey: directKey! });
    for (const [index, userId] of [creatorId, ...others].entries()) {
      await join(change, id, userId, index === 0 ? MemberRole.OWNER : MemberRole.MEMBER);
    }
    return change.manager.getRepository(Conversation).findOneByOrFail({ id });
  });
}

/** Adds a membership with its MemberJoined event and tells the user's inbox; false when already a member. */
export async function join(change: Change, conversationId: string, userId: string, role: MemberRole): Promise<boolean> {
  const rows = await change.manager.query(
    `INSERT INTO memberships (conversation_id, user_id, role, joined_at) VALUES ($1, $2, $3, clock_timestamp())
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [conversationId, userId, role],
  );
  if (rows.length === 0) return false;
  await change.append(conversationId, 'MemberJoined', { userId });
  change.publish(Topic.user(userId), { conversationId, joined: true });
  return true;
}

/**
 * NOT_FOUND naming the first of `userIds` that does not exist or was erased; the others stay
 * share-locked until commit, so an erasure (which locks the user first) cannot slip in between this
 * check and the membership it guards. Callers take these locks before any conversation's: users,
 * then conversations, the order deleteAccount takes them in too. `includeErased`: an erased user
 * counts as existing and nothing is locked (removing one from a conversation is fine at any time;
 * adding one is not), so such a check may come after a conversation's lock.
 */
export async function requireUsers(manager: EntityManager, userIds: string[], { includeErased = false } = {}): Promise<void> {
  if (userIds.length === 0) return;
  const found: { id: string }[] = await manager.query(
    `SELECT id FROM users WHERE id = ANY($1::uuid[])${includeErased ? '' : ' AND deleted_at IS NULL ORDER BY id FOR SHARE'}`,
    [userIds],
  );
  const missing = userIds.find((id) => !found.some((row) => row.id === id));
  if (missing) throw new NotFoundError(`No user ${toGlobalId('User', missing)}.`);
}

/** Closes or reopens a conversation (OWNER only); setting the status it already has changes nothing. */
export async function setConversationStatus(deps: ChangeDeps, viewerId: string, conversationId: string, status: ConversationStatus): Promise<Conversation> {
  return commitChange(deps, async (change) => {
    const conversation = await lockConversation(change.manager, conversationId, viewerId);
    requireOwner(conversation, `${status === 'CLOSED' ? 'close' : 'reopen'} it`);
    if (conversation.status !== status) {
      await change.manager.query(`UPDATE conversations SET status = $2 WHERE id = $1`, [conversationId, status]);
      await change.append(conversationId, 'ConversationStatusChanged', { status });
    }
    return change.manager.getRepository(Conversation).findOneByOrFail({ id: conversationId });
  });
}
