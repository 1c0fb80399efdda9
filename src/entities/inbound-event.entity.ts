import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Message } from './message.entity';

/** An inbound webhook event already turned into a message (see the inbound-webhook job). */
@Entity({ name: 'inbound_events' })
export class InboundEvent {
  @PrimaryColumn({ name: 'external_event_id', type: 'varchar', length: 200, primaryKeyConstraintName: 'inbound_events_pkey' })
  externalEventId!: string;

  @ManyToOne(() => Message, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id', foreignKeyConstraintName: 'inbound_events_message_id_fkey' })
  message?: Message;

  @Column({ name: 'message_id', type: 'uuid' })
  messageId!: string;

  @CreateDateColumn({ name: 'received_at', type: 'timestamptz' })
  receivedAt!: Date;
}
