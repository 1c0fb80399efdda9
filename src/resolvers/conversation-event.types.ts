import { Field, ID, Int, InterfaceType, ObjectType } from 'type-graphql';
import { ConversationStatus } from '../entities/conversation.entity';
import { assertNever } from '../errors';
import type { MessagePayload } from '../events/topics';
import { toGlobalId } from '../pagination/global-id';
import type { StreamItem } from '../subscriptions/conversation-stream';

// Each event is an instance of its class, which names its type (resolved synchronously by instanceof:
// a resolveType of our own would be wrapped by type-graphql into an async one, which compiled
// execution cannot use).
@InterfaceType({ description: 'Something that happened in a conversation. Stored events carry a seq; typing and read receipts are ephemeral (seq null).' })
export abstract class ConversationEvent {
  @Field(() => ID)
  conversationId!: string;

  @Field(() => Int, { nullable: true })
  seq!: number | null;

  @Field(() => Date)
  occurredAt!: Date;
}

/** Events about one message; `message` is resolved per delivered event (conversation-event.resolver.ts). */
abstract class MessageEvent extends ConversationEvent {
  messageId!: string;
  /** The message itself, on a live MessageAdded or MessageEdited (events/topics.ts, MessagePayload). */
  message?: MessagePayload;
}

/** Events about one user; `user` is resolved per delivered event. */
abstract class UserEvent extends ConversationEvent {
  userId!: string;
}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class MessageAdded extends MessageEvent {}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class MessageEdited extends MessageEvent {}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class MessageDeleted extends MessageEvent {}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class ReactionChanged extends UserEvent {
  messageId!: string;

  @Field(() => String)
  emoji!: string;

  @Field(() => Boolean)
  added!: boolean;
}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class MemberJoined extends UserEvent {}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class MemberLeft extends UserEvent {}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class ConversationStatusChanged extends ConversationEvent {
  @Field(() => ConversationStatus)
  status!: ConversationStatus;
}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class ReadReceipt extends UserEvent {
  @Field(() => Int)
  lastReadSeq!: number;
}

@ObjectType({ implements: ConversationEvent, simpleResolvers: true })
export class TypingChanged extends UserEvent {
  @Field(() => Boolean)
  typing!: boolean;
}

@ObjectType({
  implements: ConversationEvent,
  simpleResolvers: true,
  description: 'More events were missed than the server replays; re-read history with Conversation.messages, then subscribe again with afterSeq.',
})
export class ResyncRequired extends ConversationEvent {
  @Field(() => Int)
  fromSeq!: number;
}

export const messageEventTypes = [MessageAdded, MessageEdited, MessageDeleted, ReactionChanged];
export const userEventTypes = [ReactionChanged, MemberJoined, MemberLeft, ReadReceipt, TypingChanged];

function make<T extends ConversationEvent>(type: new () => T, item: StreamItem, fields: Omit<T, keyof ConversationEvent>): T {
  return Object.assign(new type(), {
    conversationId: toGlobalId('Conversation', item.conversationId),
    seq: item.seq,
    occurredAt: new Date(item.occurredAt),
    ...fields,
  });
}

/** The GraphQL object for an event as it travels on the bus or comes out of the log. */
export function toEventObject(item: StreamItem): ConversationEvent {
  switch (item.type) {
    case 'MessageAdded':
      return make(MessageAdded, item, item.payload);
    case 'MessageEdited':
      return make(MessageEdited, item, item.payload);
    case 'MessageDeleted':
      return make(MessageDeleted, item, item.payload);
    case 'ReactionChanged':
      return make(ReactionChanged, item, item.payload);
    case 'MemberJoined':
      return make(MemberJoined, item, item.payload);
    case 'MemberLeft':
      return make(MemberLeft, item, item.payload);
    case 'ConversationStatusChanged':
      return make(ConversationStatusChanged, item, item.payload);
    case 'ReadReceipt':
      return make(ReadReceipt, item, item.payload);
    case 'TypingChanged':
      return make(TypingChanged, item, item.payload);
    case 'ResyncRequired':
      return make(ResyncRequired, item, item.payload);
    default:
      return assertNever(item);
  }
}
