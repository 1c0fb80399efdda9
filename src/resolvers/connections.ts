import { Field, Int, ObjectType } from 'type-graphql';
import { Conversation } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import { ConnectionType, EdgeType } from '../pagination/connection.type';

@ObjectType()
export class UserEdge extends EdgeType(User) {}

@ObjectType()
export class UserConnection extends ConnectionType(UserEdge) {}

@ObjectType()
export class ConversationEdge extends EdgeType(Conversation) {}

@ObjectType()
export class ConversationConnection extends ConnectionType(ConversationEdge) {}

@ObjectType()
export class MessageEdge extends EdgeType(Message) {}

@ObjectType()
export class MessageConnection extends ConnectionType(MessageEdge) {}

@ObjectType()
export class MemberEdge extends EdgeType(User) {
  @Field(() => MemberRole)
  role!: MemberRole;

  @Field(() => Date)
  joinedAt!: Date;

  @Field(() => Int)
  lastReadSeq!: number;
}

@ObjectType()
export class MemberConnection extends ConnectionType(MemberEdge) {
  @Field(() => Int)
  totalCount!: number;
}
