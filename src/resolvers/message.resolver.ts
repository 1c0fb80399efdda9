import { Arg, Args, Authorized, Ctx, Directive, Extensions, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import { Conversation } from '../entities/conversation.entity';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import { BadUserInputError } from '../errors';
import type { ConversationRecord, MessageRecord, UserRecord } from '../entities/records';
import { loadConnection, nodeEdge, type Connection, type Edge } from '../pagination/connection';
import type { CursorKey } from '../pagination/cursor';
import { fromGlobalIdOf, toGlobalId } from '../pagination/global-id';
import { ForwardPageArgs, toPageRequest } from '../pagination/page-args';
import { deleteMessage, editMessage, mentionsOf, searchMessages, sendMessage } from '../services/messages';
import { addReaction, removeReaction } from '../services/reactions';
import { listSize } from '../security/query-cost';
import { SendMessageInput } from './message.inputs';
import { MAX_MENTIONS } from '../migrations/1732380000000-mentions-unread';
import { MessageConnection } from './connections';
import { ReactionSummary } from './reaction-summary.type';
import { visibleConversation } from './visibility';
import { conversationNotFound } from '../services/changes';

const MAX_SEARCH_LENGTH = 200;

@Resolver(() => Message)
export class MessageResolver {
  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Query(() => MessageConnection, { description: 'Full-text search over messages the viewer can read, best match first.' })
  async searchMessages(
    @Arg('query', () => String) query: string,
    @Arg('conversationId', () => ID, { nullable: true }) conversationId: string | null,
    @Args(() => ForwardPageArgs) args: ForwardPageArgs,
    @Ctx() { viewer, services }: Context,
  ): Promise<Connection<Edge<MessageRecord>>> {
    const text = query.trim();
    if (text.length < 1 || text.length > MAX_SEARCH_LENGTH) {
      throw new BadUserInputError(`query must be 1 to ${MAX_SEARCH_LENGTH} characters, got ${text.length}.`, { argument: 'query' });
    }
    const conversation = conversationId ? fromGlobalIdOf('Conversation', conversationId) : null;
    const request = toPageRequest(args);
    // The cursor is bound to the search: reusing it for another query or scope is refused.
    const list = `search:${viewer!.id}:${conversation ?? '*'}:${text}`;
    const load = (cursorKey: CursorKey | null) => searchMessages(services.sql, viewer!.id, text, conversation, request, cursorKey);
    return loadConnection(services.cursors, list, request, load, nodeEdge);
  }

  @Authorized()
  @Query(() => MessageConnection, { name: 'mentions', description: 'Messages that mention the viewer, newest first, in conversations the viewer belongs to.' })
  async viewerMentions(@Args(() => ForwardPageArgs) args: ForwardPageArgs, @Ctx() { viewer, services, loaders }: Context): Promise<Connection<Edge<MessageRecord>>> {
    const request = toPageRequest(args);
    const onAuthor = (author: UserRecord) => void loaders.usersById.prime(author.id, author);
    const load = (cursorKey: CursorKey | null) => mentionsOf(services.sql, viewer!.id, request, cursorKey, onAuthor);
    return loadConnection(services.cursors, `mentions:${viewer!.id}`, request, load, nodeEdge);
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "10s")')
  @Mutation(() => Message)
  async sendMessage(@Arg('input', () => SendMessageInput) input: SendMessageInput, @Ctx() context: Context): Promise<MessageRecord> {
    const { services, viewer, loaders } = context;
    const conversationId = fromGlobalIdOf('Conversation', input.conversationId);
    const replyToId = input.replyToId == null ? null : fromGlobalIdOf('Message', input.replyToId);
    const { message, created } = await sendMessage(services, viewer!.id, { ...input, conversationId, replyToId }, services.config.limits.messageMaxLength);
    // A retry answers the stored message even after its conversation closed; not to one who has
    // left it since, who could read through it (replyTo, reactions) what members see.
    if (!created && !(await visibleConversation(context, conversationId))) throw conversationNotFound(conversationId);
    // A message just stored has no reactions: its answer needs no read for them (a retry's may have some).
    if (created) loaders.reactionsByMessage.prime(message.id, []);
    return message;
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Message)
  editMessage(@Arg('id', () => ID) id: string, @Arg('body', () => String) body: string, @Ctx() { services, viewer }: Context): Promise<MessageRecord> {
    return editMessage(services, viewer!.id, fromGlobalIdOf('Message', id), body, services.config.limits.messageMaxLength);
  }

  @Authorized()
  @Directive('@rateLimit(max: 30, window: "1m")')
  @Mutation(() => Message)
  deleteMessage(@Arg('id', () => ID) id: string, @Ctx() { services, viewer }: Context): Promise<MessageRecord> {
    return deleteMessage(services, viewer!.id, fromGlobalIdOf('Message', id));
  }

  @Authorized()
  @Directive('@rateLimit(max: 60, window: "1m")')
  @Mutation(() => Message)
  addReaction(@Arg('messageId', () => ID) messageId: string, @Arg('emoji', () => String) emoji: string, @Ctx() { services, viewer }: Context): Promise<MessageRecord> {
    return addReaction(services, viewer!.id, fromGlobalIdOf('Message', messageId), emoji);
  }

  @Authorized()
  @Directive('@rateLimit(max: 60, window: "1m")')
  @Mutation(() => Message)
  removeReaction(@Arg('messageId', () => ID) messageId: string, @Arg('emoji', () => String) emoji: string, @Ctx() { services, viewer }: Context): Promise<MessageRecord> {
    return removeReaction(services, viewer!.id, fromGlobalIdOf('Message', messageId), emoji);
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => ID)
  id(@Root() message: MessageRecord): string {
    return toGlobalId('Message', message.id);
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => String, { nullable: true, description: 'Null once deleted.' })
  body(@Root() message: MessageRecord): string | null {
    return message.deletedAt ? null : message.body;
  }

  @FieldResolver(() => Conversation)
  async conversation(@Root() message: MessageRecord, @Ctx() context: Context): Promise<ConversationRecord> {
    // A message is only ever handed out to members, so its conversation is visible too.
    return (await visibleConversation(context, message.conversationId))!;
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => User)
  author(@Root() message: MessageRecord, @Ctx() { loaders }: Context): UserRecord | Promise<UserRecord> {
    // Pages and last messages come with their authors; others (search, events) load them.
    return message.author ?? (loaders.usersById.load(message.authorId) as Promise<UserRecord>);
  }

  @Extensions(viewerIndependent)
  @FieldResolver(() => Message, {
    nullable: true,
    description: 'The message of the same conversation this one replies to; a deleted one shows as deleted (null body).',
  })
  replyTo(@Root() message: MessageRecord, @Ctx() { loaders }: Context): Promise<MessageRecord | null> | null {
    // Same conversation (checked when it was written), so visible to whoever sees this message.
    return message.replyToId ? loaders.messagesById.load(message.replyToId) : null;
  }

  @Extensions(viewerIndependent)
  @Extensions(listSize(MAX_MENTIONS))
  @FieldResolver(() => [User], {
    description: `Members of the conversation its body names as @handle (at most ${MAX_MENTIONS}), resolved when it was written and again at each edit; by handle. None once deleted.`,
  })
  mentions(@Root() message: MessageRecord, @Ctx() { loaders }: Context): UserRecord[] | Promise<UserRecord[]> {
    // Writes and live events carry them; pages and replays load them, one statement per page.
    return message.mentions ?? loaders.mentionsByMessage.load(message.id);
  }

  // One summary per distinct emoji; most messages carry a few. The cost model counts five.
  @Extensions(viewerIndependent)
  @Extensions(listSize(5))
  @FieldResolver(() => [ReactionSummary])
  reactions(@Root() message: MessageRecord, @Ctx() { loaders }: Context): Promise<ReactionSummary[]> {
    return loaders.reactionsByMessage.load(message.id);
  }
}
