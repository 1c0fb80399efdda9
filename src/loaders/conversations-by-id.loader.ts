import type DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import { Conversation } from '../entities/conversation.entity';
import { createByIdLoader } from './by-id';

/** Conversations by id, without authorization: pair with `viewerMembership` before exposing one. */
export function createConversationsByIdLoader(dataSource: DataSource): DataLoader<string, Conversation | null> {
  return createByIdLoader(dataSource, Conversation, 'conversations-by-id');
}
