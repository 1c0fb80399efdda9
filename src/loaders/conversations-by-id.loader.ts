import type DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import { Conversation } from '../entities/conversation.entity';
import type { ConversationRecord } from '../entities/records';
import { createByIdLoader } from './by-id';

/** Conversations by id, without authorization: pair with `viewerMembership` before exposing one. */
export function createConversationsByIdLoader(sql: Sql): DataLoader<string, ConversationRecord | null> {
  return createByIdLoader(sql, Conversation, 'conversations', 'conversations-by-id');
}
