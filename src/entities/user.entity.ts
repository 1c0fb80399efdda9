import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { Node } from '../pagination/node.type';

export enum Role {
  USER = 'USER',
  ADMIN = 'ADMIN',
}
registerEnumType(Role, { name: 'Role' });

/**
 * A person who can sign in. Only columns marked `@Field` are visible in GraphQL; `id` is exposed as
 * a global id by the Node interface and `email` only to the user themself (see user.resolver.ts).
 */
@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ name: 'users' })
@Check('users_role_check', `role IN ('USER', 'ADMIN')`)
// Expression indexes (lower(...)), created by the migration; TypeORM cannot describe them.
@Index('users_handle_lower_key', { synchronize: false })
@Index('users_email_lower_key', { synchronize: false })
@Index('users_handle_prefix_idx', { synchronize: false })
@Index('users_display_name_prefix_idx', { synchronize: false })
export class User {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** Unique ignoring case (index `users_handle_lower_key`); kept as the user typed it. */
  @Field(() => String)
  @Column({ type: 'varchar', length: 32 })
  handle!: string;

  @Field(() => String)
  @Column({ name: 'display_name', type: 'varchar', length: 64 })
  displayName!: string;

  /** Stored lower-cased; unique among live accounts. Null for an external identity's account that came without one. */
  @Column({ type: 'varchar', length: 254, nullable: true })
  email!: string | null;

  /** scrypt, see security/passwords.ts. Never a GraphQL field. Null for an external identity's account (no password sign-in). */
  @Column({ name: 'password_hash', type: 'text', nullable: true })
  passwordHash!: string | null;

  @Field(() => Role)
  @Column({ type: 'varchar', length: 16, default: Role.USER })
  role!: Role;

  /** Exposed by UserResolver: only to the user and those who share a conversation with them. */
  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt!: Date | null;

  @Field(() => Date)
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /** Set when the account was erased: the row stays (their messages keep an author), anonymised, and no token works. */
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt!: Date | null;
}
