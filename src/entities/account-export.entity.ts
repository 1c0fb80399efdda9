import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Node } from '../pagination/node.type';
import { User } from './user.entity';

export enum AccountExportStatus {
  PENDING = 'PENDING',
  READY = 'READY',
  FAILED = 'FAILED',
}
registerEnumType(AccountExportStatus, { name: 'AccountExportStatus' });

/** A user's copy of their data, written by the account-export job. `document` is resolved in account.resolver.ts. */
@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ name: 'account_exports' })
@Check('account_exports_status_check', `status IN ('PENDING', 'READY', 'FAILED')`)
@Index('account_exports_user_id_idx', ['userId', 'requestedAt'])
export class AccountExport {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'account_exports_user_id_fkey' })
  user?: User;

  @Column({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Field(() => AccountExportStatus)
  @Column({ type: 'varchar', length: 16, default: AccountExportStatus.PENDING })
  status!: AccountExportStatus;

  @Field(() => Date)
  @CreateDateColumn({ name: 'requested_at', type: 'timestamptz' })
  requestedAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;

  @Column({ type: 'jsonb', nullable: true })
  document!: Record<string, unknown> | null;
}
