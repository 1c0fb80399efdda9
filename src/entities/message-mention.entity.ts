import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Message } from './message.entity';
import { User } from './user.entity';

/**
 * A member of a message's conversation named by `@handle` in its body, resolved when the message
 * was written or last edited (migration 1732380000000). `conversation_id`, `seq` and `created_at`
 * are the message's, copied so the viewer's mentions page and unread mentions count on one index.
 */
@Entity({ name: 'message_mentions' })
@Index('message_mentions_user_newest_idx', ['userId', 'createdAt', 'messageId'])
@Index('message_mentions_member_seq_idx', ['conversationId', 'userId', 'seq'])
export class MessageMention {
  @PrimaryColumn({ name: 'message_id', type: 'uuid', primaryKeyConstraintName: 'message_mentions_pkey' })
  messageId!: string;

  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'message_mentions_pkey' })
  userId!: string;

  @ManyToOne(() => Message, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id', foreignKeyConstraintName: 'message_mentions_message_id_fkey' })
  message?: Message;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'message_mentions_user_id_fkey' })
  user?: User;

  @Column({ name: 'conversation_id', type: 'uuid' })
  conversationId!: string;

  @Column({ type: 'integer' })
  seq!: number;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
