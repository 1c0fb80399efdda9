import type DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import type { UserRecord } from '../entities/records';
import { User } from '../entities/user.entity';
import { createByIdLoader } from './by-id';

/** Users by id (never their password hash); other loaders that select users along with their rows prime it. */
export function createUsersByIdLoader(sql: Sql): DataLoader<string, UserRecord | null> {
  return createByIdLoader(sql, User, 'users', 'users-by-id', ['passwordHash']);
}
