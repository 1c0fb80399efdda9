import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Node } from '../pagination/node.type';
import { User } from './user.entity';

export enum ConversationKind {
  DIRECT = 'DIRECT',
  GROUP = 'GROUP',
  SUPPORT = 'SUPPORT',
}

export enum ConversationStatus {
  OPEN = 'OPEN',
  CLOSED = 'CLOSED',
}
registerEnumType(ConversationKind, { name: 'ConversationKind' });
registerEnumType(ConversationStatus, { name: 'ConversationStatus' });

/** Fields that need the viewer or other rows (members, messages, unreadCount, …) live in conversation.resolver.ts. */
@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ name: 'conversations' })
@Check('conversations_kind_check', `kind IN ('DIRECT', 'GROUP', 'SUPPORT')`)
@Check('conversations_status_check', `status IN ('OPEN', 'CLOSED')`)
@Index('conversations_direct_key_key', ['directKey'], { unique: true, where: 'direct_key IS NOT NULL' })
// (last_message_at DESC NULLS LAST, id): an ordering TypeORM cannot describe; created by the migration.
@Index('conversations_inbox_order_idx', { synchronize: false })
export class Conversation {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Field(() => ConversationKind)
  @Column({ type: 'varchar', length: 16 })
  kind!: ConversationKind;

  @Field(() => ConversationStatus)
  @Column({ type: 'varchar', length: 16, default: ConversationStatus.OPEN })
  status!: ConversationStatus;

  @Field(() => String, { nullable: true })
  @Column({ type: 'varchar', length: 200, nullable: true })
  title!: string | null;

  @ManyToOne(() => User, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'created_by_id', foreignKeyConstraintName: 'conversations_created_by_id_fkey' })
  createdBy?: User;

  @Column({ name: 'created_by_id', type: 'uuid' })
  createdById!: string;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** Highest seq handed out in this conversation; the next event takes lastSeq + 1 under a row lock. */
  @Field(() => Int, { description: 'Highest event sequence number committed in this conversation.' })
  @Column({ name: 'last_seq', type: 'integer', default: 0 })
  lastSeq!: number;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'last_message_at', type: 'timestamptz', nullable: true })
  lastMessageAt!: Date | null;

  /** For DIRECT conversations, the two member ids sorted and joined: makes "one per pair" a unique index. */
  @Column({ name: 'direct_key', type: 'varchar', length: 80, nullable: true })
  directKey!: string | null;
}
