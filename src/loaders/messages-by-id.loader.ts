import type DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import { Message } from '../entities/message.entity';
import type { MessageRecord } from '../entities/records';
import { createByIdLoader } from './by-id';

/** Messages by id, without authorization: check the viewer's membership of `conversationId` first. */
export function createMessagesByIdLoader(sql: Sql): DataLoader<string, MessageRecord | null> {
  return createByIdLoader(sql, Message, 'messages', 'messages-by-id');
}
