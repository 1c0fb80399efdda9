import { Column, Entity, JoinColumn, OneToOne, PrimaryColumn } from 'typeorm';
import { User } from './user.entity';

/**
 * Whether a user is online, mirrored from the presence store at each change (migration
 * 1732390000000), so that a change's transaction can tell whom it finds offline.
 */
@Entity({ name: 'user_presence' })
export class UserPresence {
  @PrimaryColumn({ name: 'user_id', type: 'uuid', primaryKeyConstraintName: 'user_presence_pkey' })
  userId!: string;

  @OneToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'user_presence_user_id_fkey' })
  user?: User;

  @Column({ type: 'boolean' })
  online!: boolean;

  /** When presence decided it; an older change never overwrites a newer one. */
  @Column({ name: 'changed_at', type: 'timestamptz' })
  changedAt!: Date;
}
