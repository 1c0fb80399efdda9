import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { Conversation } from '../entities/conversation.entity';
import { orderByKeys } from './order-by-keys';

/** Conversations by id, without authorization: pair with `viewerMembership` before exposing one. */
export function createConversationsByIdLoader(dataSource: DataSource): DataLoader<string, Conversation | null> {
  return new DataLoader(async (ids) => {
    const conversations = await dataSource.getRepository(Conversation).findBy({ id: In([...ids]) });
    return orderByKeys('conversations-by-id', ids, conversations, (c) => c.id);
  });
}
