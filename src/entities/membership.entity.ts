import { registerEnumType } from 'type-graphql';
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Conversation } from './conversation.entity';
import { User } from './user.entity';

export enum MemberRole {
  OWNER = 'OWNER',
  MEMBER = 'MEMBER',
}
registerEnumType(MemberRole, { name: 'MemberRole' });

@Entity({ name: 'memberships' })
@Check('memberships_role_check', `role IN ('OWNER', 'MEMBER')`)
@Index('memberships_user_id_idx', ['userId'])
@Index('memberships_join_order_idx', ['conversationId', 'joinedAt', 'userId'])
export class Membership {
  @PrimaryColumn({ name: 'conversation_id', type: 'uuid', primaryKeyConstraintName: 'memberships_pkey' })
  conversationId!: string;

  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'memberships_pkey' })
  userId!: string;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'conversation_id', foreignKeyConstraintName: 'memberships_conversation_id_fkey' })
  conversation?: Conversation;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'memberships_user_id_fkey' })
  user?: User;

  @Column({ type: 'varchar', length: 16, default: MemberRole.MEMBER })
  role!: MemberRole;

  /** The member has read every event up to this seq. Only ever moves forward. */
  @Column({ name: 'last_read_seq', type: 'integer', default: 0 })
  lastReadSeq!: number;

  /** Someone else's messages after `lastReadSeq`, not deleted; kept by PostgreSQL (migration 1732380000000). */
  @Column({ name: 'unread_messages', type: 'integer', default: 0 })
  unreadMessages!: number;

  /** Mentions of the member in those. */
  @Column({ name: 'unread_mentions', type: 'integer', default: 0 })
  unreadMentions!: number;

  @CreateDateColumn({ name: 'joined_at', type: 'timestamptz' })
  joinedAt!: Date;
}
