import { Arg, Args, Authorized, Ctx, Directive, Extensions, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { viewerDependent, viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import { Conversation, ConversationStatus } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import type { ConversationRecord, MessageRecord, UserRecord } from '../entities/records';
import { emptyConnection, KeysetConnection, loadConnection, nodeEdge, type Connection, type Edge } from '../pagination/connection';
import type { CursorCodec, CursorKey } from '../pagination/cursor';
import type { MemberRow } from '../loaders/members-page.loader';
import type { LoadedPage } from '../loaders/paged-loader';
import { fromGlobalIdOf, toGlobalId } from '../pagination/global-id';
import { ForwardPageArgs, PageArgs, toPageRequest, type PageRequest } from '../pagination/page-args';
import { createConversation, listViewerConversations, setConversationStatus } from '../services/conversations';
import { addMember, leaveConversation, markRead, removeMember, setTyping } from '../services/memberships';
import { CreateConversationInput } from './conversation.inputs';
import { ConversationConnection, MemberConnection, memberEdge, MessageConnection, type MemberEdgeOf } from './connections';
import { visibleConversation } from './visibility';

/** The members connection: a page of them, and how many there are. */
class MembersConnection extends KeysetConnection<MemberRow, MemberEdgeOf> {
  readonly totalCount: number;

  constructor(request: PageRequest, page: LoadedPage<MemberRow>, cursors: CursorCodec) {
    super(request, page, cursors, page.list, memberEdge);
    this.totalCount = page.extra.__total as number;
  }
}

@Resolver(() => Conversation)
export class ConversationResolver {
  @Authorized()
  @Query(() => Conversation, { nullable: true, description: 'Null unless the viewer is a member.' })
  conversation(@Arg('id', () => ID) id: string, @Ctx() context: Context): Promise<ConversationRecord | null> {
    return visibleConversation(context, fromGlobalIdOf('Conversation', id));
  }

  @Authorized()
  @Query(() => ConversationConnection, { description: "The viewer's conversations, most recent activity first." })
  async conversations(
    @Arg('status', () => ConversationStatus, { nullable: true }) status: ConversationStatus | null,
    @Args(() => ForwardPageArgs) args: ForwardPageArgs,
    @Ctx() { viewer, services, loaders }: Context,
  ): Promise<Connection<Edge<ConversationRecord>>> {
    const request = toPageRequest(args);
    const list = `conversations:${viewer!.id}:${status ?? 'ALL'}`;
    const load = async (cursorKey: CursorKey | null) => {
      const page = await listViewerConversations(services.sql, viewer!.id, status ?? null, request, cursorKey);
      for (const { conversation, membership } of page.rows) {
        loaders.conversationsById.prime(conversation.id, conversation);
        loaders.viewerMembership.prime(conversation.id, membership);
      }
      return { ...page, rows: page.rows.map((row) => row.conversation) };
    };
    return loadConnection(services.cursors, list, request, load, nodeEdge);
  }

  @Authorized()
  @Directive('@rateLimit(max: 10, window: "1m")')
  @Mutation(() => Conversation)
  createConversation(@Arg('input', () => CreateConversationInput) input: CreateConversationInput, @Ctx() { services, viewer }: Context) {
    const memberIds = input.memberIds.map((id) => fromGlobalIdOf('User', id));
    return createConversation(services, viewer!.id, { kind: input.kind, title: input.title ?? null, memberIds });
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Conversation)
  addMember(@Arg('conversationId', () => ID) conversationId: string, @Arg('userId', () => ID) userId: string, @Ctx() { services, viewer }: Context) {
    return addMember(services, viewer!.id, fromGlobalIdOf('Conversation', conversationId), fromGlobalIdOf('User', userId));
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Conversation)
  removeMember(@Arg('conversationId', () => ID) conversationId: string, @Arg('userId', () => ID) userId: string, @Ctx() { services, viewer }: Context) {
    return removeMember(services, viewer!.id, fromGlobalIdOf('Conversation', conversationId), fromGlobalIdOf('User', userId));
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Boolean)
  leaveConversation(@Arg('conversationId', () => ID) conversationId: string, @Ctx() { services, viewer }: Context) {
    return leaveConversation(services, viewer!.id, fromGlobalIdOf('Conversation', conversationId));
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Conversation)
  closeConversation(@Arg('id', () => ID) id: string, @Ctx() { services, viewer }: Context) {
    return setConversationStatus(services, viewer!.id, fromGlobalIdOf('Conversation', id), ConversationStatus.CLOSED);
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Conversation)
  reopenConversation(@Arg('id', () => ID) id: string, @Ctx() { services, viewer }: Context) {
    return setConversationStatus(services, viewer!.id, fromGlobalIdOf('Conversation', id), ConversationStatus.OPEN);
  }

  @Authorized()
  @Directive('@rateLimit(max: 120, window: "1m")')
  @Mutation(() => Conversation, { description: "Moves the viewer's read marker forward (never backward)." })
  markRead(@Arg('conversationId', () => ID) conversationId: string, @Arg('seq', () => Int) seq: number, @Ctx() { services, viewer }: Context) {
    return markRead(services, viewer!.id, fromGlobalIdOf('Conversation', conversationId), seq);
  }

  @Authorized()
  @Directive('@rateLimit(max: 60, window: "1m")')
  @Mutation(() => Boolean)
  setTyping(@Arg('conversationId', () => ID) conversationId: string, @Arg('typing', () => Boolean) typing: boolean, @Ctx() { services, viewer }: Context) {
    return setTyping(services, viewer!.id, fromGlobalIdOf('Conversation', conversationId), typing);
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => ID)
  id(@Root() conversation: ConversationRecord): string {
    return toGlobalId('Conversation', conversation.id);
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => User)
  async createdBy(@Root() conversation: ConversationRecord, @Ctx() { loaders }: Context): Promise<UserRecord> {
    return (await loaders.usersById.load(conversation.createdById))!;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Message, { nullable: true })
  async lastMessage(@Root() conversation: ConversationRecord, @Ctx() { loaders }: Context): Promise<MessageRecord | null> {
    // A conversation reaches a non-member only as an inbox update telling them they were removed.
    if (!(await loaders.viewerMembership.load(conversation.id))) return null;
    return loaders.lastMessage.load(conversation.id);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Int, { description: "Messages after the viewer's read marker, not counting the viewer's own." })
  async unreadCount(@Root() conversation: ConversationRecord, @Ctx() { loaders }: Context): Promise<number> {
    return (await loaders.viewerMembership.load(conversation.id))?.unreadMessages ?? 0;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Int, { description: 'Unread messages that mention the viewer.' })
  async unreadMentionCount(@Root() conversation: ConversationRecord, @Ctx() { loaders }: Context): Promise<number> {
    return (await loaders.viewerMembership.load(conversation.id))?.unreadMentions ?? 0;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => MemberRole, { nullable: true })
  async viewerRole(@Root() conversation: ConversationRecord, @Ctx() { loaders }: Context): Promise<MemberRole | null> {
    return (await loaders.viewerMembership.load(conversation.id))?.role ?? null;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => MemberConnection, { description: 'Members in join order.' })
  async members(@Root() conversation: ConversationRecord, @Args(() => PageArgs) args: PageArgs, @Ctx() context: Context): Promise<Connection<MemberEdgeOf> & { totalCount: number }> {
    const request = toPageRequest(args);
    if (!(await context.loaders.viewerMembership.load(conversation.id))) return { ...emptyConnection, totalCount: 0 };
    return new MembersConnection(request, await context.loaders.membersPage.load({ parentId: conversation.id, request }), context.services.cursors);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => MessageConnection, {
    description: 'Messages in seq order: first/after pages forward from the oldest, last/before backward from the newest.',
  })
  async messages(@Root() conversation: ConversationRecord, @Args(() => PageArgs) args: PageArgs, @Ctx() context: Context): Promise<Connection<Edge<MessageRecord>>> {
    const request: PageRequest = toPageRequest(args);
    if (!(await context.loaders.viewerMembership.load(conversation.id))) return emptyConnection;
    const page = await context.loaders.messagesPage.load({ parentId: conversation.id, request });
    return new KeysetConnection(request, page, context.services.cursors, page.list, nodeEdge);
  }
}
