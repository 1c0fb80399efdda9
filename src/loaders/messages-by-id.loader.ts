import type DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import { Message } from '../entities/message.entity';
import { createByIdLoader } from './by-id';

/** Messages by id, without authorization: check the viewer's membership of `conversationId` first. */
export function createMessagesByIdLoader(dataSource: DataSource): DataLoader<string, Message | null> {
  return createByIdLoader(dataSource, Message, 'messages-by-id');
}
