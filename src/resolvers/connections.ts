import { Field, Int, ObjectType } from 'type-graphql';
import { Conversation } from '../entities/conversation.entity';
import { MemberRole } from '../entities/membership.entity';
import { Message } from '../entities/message.entity';
import { User } from '../entities/user.entity';
import type { Timestamp } from '../entities/records';
import type { MemberRow } from '../loaders/members-page.loader';
import { Edge, type ListCursors } from '../pagination/connection';
import { ConnectionType, EdgeType } from '../pagination/connection.type';

@ObjectType({ simpleResolvers: true })
export class UserEdge extends EdgeType(User) {}

@ObjectType({ simpleResolvers: true })
export class UserConnection extends ConnectionType(UserEdge) {}

@ObjectType({ simpleResolvers: true })
export class ConversationEdge extends EdgeType(Conversation) {}

@ObjectType({ simpleResolvers: true })
export class ConversationConnection extends ConnectionType(ConversationEdge) {}

@ObjectType({ simpleResolvers: true })
export class MessageEdge extends EdgeType(Message) {}

@ObjectType({ simpleResolvers: true })
export class MessageConnection extends ConnectionType(MessageEdge) {}

@ObjectType({ simpleResolvers: true })
export class MemberEdge extends EdgeType(User) {
  @Field(() => MemberRole)
  role!: MemberRole;

  @Field(() => Date)
  joinedAt!: Date;

  @Field(() => Int)
  lastReadSeq!: number;
}

@ObjectType({ simpleResolvers: true })
export class MemberConnection extends ConnectionType(MemberEdge) {
  @Field(() => Int)
  totalCount!: number;
}

/** A MemberEdge as answers read it: the member's row is both the node (the user) and the membership. */
export class MemberEdgeOf extends Edge<MemberRow> {
  get role(): MemberRole {
    return this.node.__memberRole;
  }

  get joinedAt(): Timestamp {
    return this.node.__joinedAt;
  }

  get lastReadSeq(): number {
    return this.node.__lastReadSeq;
  }
}

export const memberEdge = (row: MemberRow, key: string, cursors: ListCursors) => new MemberEdgeOf(row, key, cursors);
