import { Arg, Args, Authorized, Ctx, Directive, Extensions, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { viewerDependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import { Conversation, ConversationStatus } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import { loadConnection, toConnection, type Connection } from '../pagination/connection';
import type { CursorKey } from '../pagination/cursor';
import { fromGlobalIdOf, toGlobalId } from '../pagination/global-id';
import { ForwardPageArgs, PageArgs, toPageRequest, type PageRequest } from '../pagination/page-args';
import { createConversation, listViewerConversations, setConversationStatus } from '../services/conversations';
import { addMember, leaveConversation, markRead, removeMember, setTyping } from '../services/memberships';
import { CreateConversationInput } from './conversation.inputs';
import { ConversationConnection, MemberConnection, MessageConnection, type MemberEdge, type MessageEdge } from './connections';
import { visibleConversation } from './visibility';

const emptyConnection = { edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null } };

@Resolver(() => Conversation)
export class ConversationResolver {
  @Authorized()
  @Query(() => Conversation, { nullable: true, description: 'Null unless the viewer is a member.' })
  conversation(@Arg('id', () => ID) id: string, @Ctx() context: Context): Promise<Conversation | null> {
    return visibleConversation(context, fromGlobalIdOf('Conversation', id));
  }

  @Authorized()
  @Query(() => ConversationConnection, { description: "The viewer's conversations, most recent activity first." })
  async conversations(
    @Arg('status', () => ConversationStatus, { nullable: true }) status: ConversationStatus | null,
    @Args(() => ForwardPageArgs) args: ForwardPageArgs,
    @Ctx() { viewer, services, loaders }: Context,
  ): Promise<Connection<{ cursor: string; node: Conversation }>> {
    const request = toPageRequest(args);
    const list = `conversations:${viewer!.id}:${status ?? 'ALL'}`;
    const load = (cursorKey: CursorKey | null) => listViewerConversations(services.dataSource, viewer!.id, status ?? null, request, cursorKey);
    return loadConnection(services.cursors, list, request, load, ({ conversation, membership }) => {
      loaders.conversationsById.prime(conversation.id, conversation);
      loaders.viewerMembership.prime(conversation.id, membership);
      return { node: conversation };
    });
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

  @FieldResolver(() => ID)
  id(@Root() conversation: Conversation): string {
    return toGlobalId('Conversation', conversation.id);
  }

  @FieldResolver(() => User)
  async createdBy(@Root() conversation: Conversation, @Ctx() { loaders }: Context): Promise<User> {
    return (await loaders.usersById.load(conversation.createdById))!;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Message, { nullable: true })
  async lastMessage(@Root() conversation: Conversation, @Ctx() { loaders }: Context): Promise<Message | null> {
    // A conversation reaches a non-member only as an inbox update telling them they were removed.
    if (!(await loaders.viewerMembership.load(conversation.id))) return null;
    return loaders.lastMessage.load(conversation.id);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => Int, { description: "Messages after the viewer's read marker, not counting the viewer's own." })
  unreadCount(@Root() conversation: Conversation, @Ctx() { loaders }: Context): Promise<number> {
    return loaders.unreadCount.load(conversation.id);
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => MemberRole, { nullable: true })
  async viewerRole(@Root() conversation: Conversation, @Ctx() { loaders }: Context): Promise<MemberRole | null> {
    return (await loaders.viewerMembership.load(conversation.id))?.role ?? null;
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => MemberConnection, { description: 'Members in join order.' })
  async members(@Root() conversation: Conversation, @Args(() => PageArgs) args: PageArgs, @Ctx() context: Context) {
    const request = toPageRequest(args);
    if (!(await context.loaders.viewerMembership.load(conversation.id))) return { ...emptyConnection, totalCount: 0 };
    const page = await context.loaders.membersPage.load({ parentId: conversation.id, request });
    const connection = toConnection<(typeof page.rows)[number]['row'], MemberEdge>(request, page, context.services.cursors, page.list, (m) => ({
      node: m.user,
      role: m.role,
      joinedAt: m.joinedAt,
      lastReadSeq: m.lastReadSeq,
    }));
    return { ...connection, totalCount: page.extra.__total as number };
  }

  @Extensions(viewerDependent)
  @FieldResolver(() => MessageConnection, {
    description: 'Messages in seq order: first/after pages forward from the oldest, last/before backward from the newest.',
  })
  async messages(@Root() conversation: Conversation, @Args(() => PageArgs) args: PageArgs, @Ctx() context: Context): Promise<Connection<MessageEdge>> {
    const request: PageRequest = toPageRequest(args);
    if (!(await context.loaders.viewerMembership.load(conversation.id))) return emptyConnection;
    const page = await context.loaders.messagesPage.load({ parentId: conversation.id, request });
    return toConnection(request, page, context.services.cursors, page.list, (node) => ({ node }));
  }
}
