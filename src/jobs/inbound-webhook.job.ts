import { createHash } from 'node:crypto';
import { ConversationKind } from '../entities/conversation.entity';
import { findUserByHandle } from '../services/accounts';
import { sendMessage } from '../services/messages';
import type { JobDefinition } from './job';

/** A message from an external channel (SMS, e-mail gateway), as `POST /webhooks/inbound` accepted it. */
export interface InboundWebhookPayload {
  externalEventId: string;
  /** Raw conversation id (not the global id). */
  conversationId: string;
  authorHandle: string;
  body: string;
  /** When the channel says it was sent (ISO); informational, the message takes its seq and time now. */
  sentAt: string;
}

/**
 * The idempotency key of the message an external event becomes: the same event, delivered twice
 * or concurrently, is one message (sendMessage is idempotent per author and key).
 */
export function webhookMessageKey(externalEventId: string): string {
  return `webhook:${createHash('sha256').update(externalEventId).digest('hex').slice(0, 56)}`;
}

/** Posts the message through sendMessage, so it takes a seq, reaches subscribers and is counted like any other. */
export const inboundWebhookJob: JobDefinition<InboundWebhookPayload> = {
  name: 'inbound-webhook',
  batchSize: 50,
  concurrency: 10,
  async run(deps, payload) {
    const author = await findUserByHandle(deps.dataSource, payload.authorHandle);
    if (!author || author.deletedAt) throw new Error(`No user with handle ${JSON.stringify(payload.authorHandle)}`);
    const [conversation] = await deps.dataSource.query(`SELECT kind FROM conversations WHERE id = $1`, [payload.conversationId]);
    if (conversation?.kind !== ConversationKind.SUPPORT) throw new Error(`Conversation ${payload.conversationId} is not a SUPPORT conversation`);
    const input = { conversationId: payload.conversationId, body: payload.body, clientMessageId: webhookMessageKey(payload.externalEventId) };
    await sendMessage(deps, author.id, input, deps.config.limits.messageMaxLength);
  },
};
