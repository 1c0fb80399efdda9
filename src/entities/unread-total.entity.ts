import { Field, Int, ObjectType } from 'type-graphql';
import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn } from 'typeorm';
import { User } from './user.entity';

/**
 * What a user has not read, over all their conversations: kept by PostgreSQL from the counters of
 * each membership, moved by a delta in the transaction of every change (migration 1732380000000).
 */
@ObjectType({ description: 'What the viewer has not read, over all their conversations.', simpleResolvers: true })
@Entity({ name: 'unread_totals' })
export class UnreadTotal {
  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'unread_totals_pkey' })
  userId!: string;

  @OneToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'unread_totals_user_id_fkey' })
  user?: User;

  @Field(() => Int, { description: 'Conversations with at least one unread message.' })
  @Column({ type: 'integer', default: 0 })
  conversations!: number;

  @Field(() => Int, { description: "Unread messages: someone else's, after the read marker, not deleted." })
  @Column({ type: 'integer', default: 0 })
  messages!: number;

  @Field(() => Int, { description: 'Unread messages that mention the viewer.' })
  @Column({ type: 'integer', default: 0 })
  mentions!: number;
}
