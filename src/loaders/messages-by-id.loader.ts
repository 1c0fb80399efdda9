import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { Message } from '../entities/message.entity';
import { orderByKeys } from './order-by-keys';

/** Messages by id, without authorization: check the viewer's membership of `conversationId` first. */
export function createMessagesByIdLoader(dataSource: DataSource): DataLoader<string, Message | null> {
  return new DataLoader(async (ids) => {
    const messages = await dataSource.getRepository(Message).findBy({ id: In([...ids]) });
    return orderByKeys('messages-by-id', ids, messages, (m) => m.id);
  });
}
