import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Resolver, Root, Subscription, type ClassType, Extensions } from 'type-graphql';
import { viewerIndependent } from '../subscriptions/shared-execution';
import type { Context } from '../context';
import type { MessageRecord, UserRecord } from '../entities/records';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import { BadUserInputError } from '../errors';
import type { MessagePayload } from '../events/topics';
import { fromGlobalIdOf } from '../pagination/global-id';
import { openConversationStream, type StreamItem } from '../subscriptions/conversation-stream';
import { ConversationEvent, messageEventTypes, toEventObject, userEventTypes } from './conversation-event.types';
import { subscribeWith } from './subscribe';

/** conversationEvents' arguments, read once when the subscription starts. */
function readArgs(args: Record<string, unknown>, { services }: Context) {
  const afterSeq = (args.afterSeq as number | null | undefined) ?? null;
  if (afterSeq !== null && afterSeq < 0) throw new BadUserInputError(`afterSeq must be ≥ 0, got ${afterSeq}.`, { argument: 'afterSeq' });
  // Every subscriber of a conversation holds its id: one copy for all of them.
  return { conversationId: services.strings.intern(fromGlobalIdOf('Conversation', args.conversationId as string)), afterSeq };
}

function open({ conversationId, afterSeq }: ReturnType<typeof readArgs>, { services, viewer, queueBound }: Context) {
  return openConversationStream({
    bus: services.bus,
    dataSource: services.dataSource,
    conversationId,
    viewerId: viewer!.id,
    afterSeq,
    replayLimit: services.config.realtime.replayLimit,
    typingTimeoutMs: services.config.realtime.typingTimeoutMs,
    metrics: services.metrics,
    bound: queueBound,
  });
}

@Resolver()
export class ConversationEventsResolver {
  @Authorized()
  @Extensions(viewerIndependent)
  @Subscription(() => ConversationEvent, {
    description: 'Live events of one conversation, in seq order, each once. With afterSeq, first replays every stored event after it.',
    subscribe: subscribeWith(readArgs, open),
  })
  conversationEvents(
    @Root() item: StreamItem,
    @Arg('conversationId', () => ID) _conversationId: string,
    @Arg('afterSeq', () => Int, { nullable: true }) _afterSeq: number | null,
  ): ConversationEvent {
    return toEventObject(item);
  }
}

/**
 * `message` of every message event; the subscriber is a member, so the message is visible. A live
 * MessageAdded or MessageEdited carries it (no read per event per instance); a replayed event, and
 * the others, read it as it is now.
 */
function messageFieldResolver(of: ClassType<{ messageId: string; message?: MessagePayload }>) {
  @Resolver(() => of)
  class MessageFieldResolver {
    @Extensions(viewerIndependent)
    @FieldResolver(() => Message)
    message(@Root() event: { messageId: string; message?: MessagePayload }, @Ctx() { loaders }: Context): MessageRecord | Promise<MessageRecord> {
      return (event.message as unknown as MessageRecord | undefined) ?? (loaders.messagesById.load(event.messageId) as Promise<MessageRecord>);
    }
  }
  return MessageFieldResolver;
}

/** `user` of every event about a user. */
function userFieldResolver(of: ClassType<{ userId: string }>) {
  @Resolver(() => of)
  class UserFieldResolver {
    @Extensions(viewerIndependent)
    @FieldResolver(() => User)
    async user(@Root() event: { userId: string }, @Ctx() { loaders }: Context): Promise<UserRecord> {
      return (await loaders.usersById.load(event.userId))!;
    }
  }
  return UserFieldResolver;
}

export const conversationEventResolvers = [
  ConversationEventsResolver,
  ...messageEventTypes.map(messageFieldResolver),
  ...userEventTypes.map(userFieldResolver),
] as const;
