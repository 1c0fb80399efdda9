import type DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import { User } from '../entities/user.entity';
import { createByIdLoader } from './by-id';

/** Users by id; other loaders that select users along with their rows prime it. */
export function createUsersByIdLoader(dataSource: DataSource): DataLoader<string, User | null> {
  return createByIdLoader(dataSource, User, 'users-by-id');
}
