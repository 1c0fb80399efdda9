import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Conversation } from './conversation.entity';

/**
 * The per-conversation event log. Every stored change to a conversation appends one row, with the
 * conversation's next seq, in the transaction of the change; subscriptions replay from here.
 */
@Entity({ name: 'conversation_events' })
export class ConversationEventRecord {
  @PrimaryColumn({ name: 'conversation_id', type: 'uuid', primaryKeyConstraintName: 'conversation_events_pkey' })
  conversationId!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'conversation_events_pkey' })
  seq!: number;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'conversation_id', foreignKeyConstraintName: 'conversation_events_conversation_id_fkey' })
  conversation?: Conversation;

  @Column({ type: 'varchar', length: 32 })
  type!: string;

  /** Ids and scalar facts only (JSON-safe); fields are resolved fresh when delivered. */
  @Column({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Column({ name: 'occurred_at', type: 'timestamptz', default: () => 'now()' })
  occurredAt!: Date;
}
