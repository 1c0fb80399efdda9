import { Field, Int, ObjectType } from 'type-graphql';
import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Conversation } from './conversation.entity';
import { Node } from '../pagination/node.type';
import { User } from './user.entity';

/** A chat message. Deleting keeps the row and its seq and nulls the body (soft delete). */
/** `conversation`, `author` and `reactions` are resolved in message.resolver.ts. */
@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ name: 'messages' })
@Index('messages_conversation_seq_key', ['conversationId', 'seq'], { unique: true })
@Index('messages_author_client_message_id_key', ['authorId', 'clientMessageId'], { unique: true })
// GIN over to_tsvector('english', coalesce(body, '')): an expression index, created by the migration.
@Index('messages_body_fts_idx', { synchronize: false })
// (deleted_at) WHERE deleted_at IS NOT NULL AND body IS NOT NULL: what retention has yet to erase.
@Index('messages_deleted_at_idx', { synchronize: false })
@Index('messages_created_at_brin', { synchronize: false })
export class Message {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @ManyToOne(() => Conversation, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'conversation_id', foreignKeyConstraintName: 'messages_conversation_id_fkey' })
  conversation?: Conversation;

  @Column({ name: 'conversation_id', type: 'uuid' })
  conversationId!: string;

  @ManyToOne(() => User, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'author_id', foreignKeyConstraintName: 'messages_author_id_fkey' })
  author?: User;

  @Column({ name: 'author_id', type: 'uuid' })
  authorId!: string;

  /** The seq of the MessageAdded event that created this message. */
  @Field(() => Int, { description: 'Position in the conversation\'s event order; gapless per conversation across all event kinds.' })
  @Column({ type: 'integer' })
  seq!: number;

  /** Kept after a soft delete (GraphQL shows null) until retention erases it; see message.resolver.ts. */
  @Column({ type: 'text', nullable: true })
  body!: string | null;

  /** Idempotency key chosen by the client; unique per author. */
  @Field(() => String, { nullable: true })
  @Column({ name: 'client_message_id', type: 'varchar', length: 64, nullable: true })
  clientMessageId!: string | null;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'edited_at', type: 'timestamptz', nullable: true })
  editedAt!: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt!: Date | null;

  @ManyToOne(() => Message, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'reply_to_id', foreignKeyConstraintName: 'messages_reply_to_id_fkey' })
  replyTo?: Message;

  /** The earlier message of the same conversation this one answers (`replyTo` in message.resolver.ts). */
  @Column({ name: 'reply_to_id', type: 'uuid', nullable: true })
  replyToId!: string | null;
}
