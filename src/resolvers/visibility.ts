import type { Context } from '../context';
import type { ConversationRecord, MessageRecord } from '../entities/records';

/**
 * The one rule of who reads what: a conversation, its members and its messages are visible to its
 * members only. Everyone else gets null, exactly as if the thing did not exist (no existence leak).
 */
export async function visibleConversation({ loaders }: Context, conversationId: string): Promise<ConversationRecord | null> {
  const [conversation, membership] = await Promise.all([
    loaders.conversationsById.load(conversationId),
    loaders.viewerMembership.load(conversationId),
  ]);
  return conversation && membership ? conversation : null;
}

export async function visibleMessage(context: Context, messageId: string): Promise<MessageRecord | null> {
  const message = await context.loaders.messagesById.load(messageId);
  return message && (await context.loaders.viewerMembership.load(message.conversationId)) ? message : null;
}
