import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { WebhookEndpoint } from './webhook-endpoint.entity';

export enum WebhookDeliveryStatus {
  /** Behind an earlier delivery of its conversation to the same endpoint. */
  QUEUED = 'QUEUED',
  /** The next of its conversation to go out: due at `nextAttemptAt`. */
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  /** Every attempt failed: it waits for `redeliver`. */
  DEAD = 'DEAD',
}

/**
 * One event for one endpoint, written in the transaction of the change (migration 1732390000000).
 * Its id is the `webhook-id` of every attempt; its payload, rendered once, is the body of each.
 */
@Entity({ name: 'webhook_deliveries' })
@Unique('webhook_deliveries_lane_seq_key', ['endpointId', 'conversationId', 'seq'])
@Check('webhook_deliveries_status_check', `status IN ('QUEUED', 'PENDING', 'DELIVERED', 'DEAD')`)
// Partial indexes, created by the migration; TypeORM cannot describe them.
@Index('webhook_deliveries_due_idx', { synchronize: false })
@Index('webhook_deliveries_waiting_lane_idx', { synchronize: false })
@Index('webhook_deliveries_waiting_message_idx', { synchronize: false })
@Index('webhook_deliveries_dead_idx', { synchronize: false })
@Index('webhook_deliveries_settled_idx', { synchronize: false })
@Index('webhook_deliveries_endpoint_newest_idx', ['endpointId', 'createdAt', 'id'])
export class WebhookDelivery {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'webhook_deliveries_pkey' })
  id!: string;

  @Column({ name: 'endpoint_id', type: 'uuid' })
  endpointId!: string;

  @ManyToOne(() => WebhookEndpoint, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'endpoint_id', foreignKeyConstraintName: 'webhook_deliveries_endpoint_id_fkey' })
  endpoint?: WebhookEndpoint;

  @Column({ name: 'event_type', type: 'text' })
  eventType!: string;

  @Column({ name: 'conversation_id', type: 'uuid' })
  conversationId!: string;

  /** The conversation event's seq: deliveries of one endpoint and conversation go out in this order. */
  @Column({ type: 'integer' })
  seq!: number;

  /** The message of a message event. */
  @Column({ name: 'message_id', type: 'uuid', nullable: true })
  messageId!: string | null;

  /** The body, exactly as sent. */
  @Column({ type: 'json' })
  payload!: unknown;

  @Column({ type: 'text', default: WebhookDeliveryStatus.PENDING })
  status!: WebhookDeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt!: Date;

  /** A dispatcher is sending it until then; past it, another may. */
  @Column({ name: 'leased_until', type: 'timestamptz', nullable: true })
  leasedUntil!: Date | null;

  /** The claim that holds the lease; only it settles the attempt. */
  @Column({ name: 'lease_token', type: 'uuid', nullable: true })
  leaseToken!: string | null;

  @Column({ name: 'last_status_code', type: 'integer', nullable: true })
  lastStatusCode!: number | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;
}
