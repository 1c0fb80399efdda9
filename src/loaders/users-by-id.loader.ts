import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { User } from '../entities/user.entity';
import { orderByKeys } from './order-by-keys';

export function createUsersByIdLoader(dataSource: DataSource): DataLoader<string, User | null> {
  return new DataLoader(async (ids) => {
    const users = await dataSource.getRepository(User).findBy({ id: In([...ids]) });
    return orderByKeys('users-by-id', ids, users, (user) => user.id);
  });
}
