import { createHash } from 'node:crypto';
import { ConversationKind } from '../entities/conversation.entity';
import { violatedUniqueIndex } from '../database/postgres-errors';
import { sendMessage } from '../services/messages';
import type { JobDefinition, JobDeps } from './job';

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

const seen = async (deps: JobDeps, externalEventId: string) =>
  (await deps.sql.rows(`SELECT 1 FROM inbound_events WHERE external_event_id = $1`, [externalEventId])).length > 0;

/**
 * Posts the message through sendMessage, so it takes a seq, reaches subscribers and is counted like
 * any other, and records the event in `inbound_events` in the same transaction: an event seen
 * before — redelivered later, raced by a concurrent delivery, even naming another author — is done.
 */
export const inboundWebhookJob: JobDefinition<InboundWebhookPayload> = {
  name: 'inbound-webhook',
  batchSize: 20,
  // Well under DATABASE_POOL_MAX: a burst must leave connections for the API.
  concurrency: 4,
  async run(deps, payload) {
    // One round trip for what the event needs checked, then sendMessage's one statement.
    const [found] = await deps.sql.rows<{ seen: boolean; authorId: string | null; kind: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM inbound_events WHERE external_event_id = $1) AS seen,
        (SELECT u.id FROM users u WHERE lower(u.handle) = lower($2) AND u.deleted_at IS NULL) AS "authorId",
        (SELECT c.kind FROM conversations c WHERE c.id = $3) AS kind`,
      [payload.externalEventId, payload.authorHandle.trim(), payload.conversationId],
    );
    if (found.seen) return;
    if (!found.authorId) throw new Error(`No user with handle ${JSON.stringify(payload.authorHandle)}`);
    if (found.kind !== ConversationKind.SUPPORT) throw new Error(`Conversation ${payload.conversationId} is not a SUPPORT conversation`);
    const input = { conversationId: payload.conversationId, body: payload.body, clientMessageId: webhookMessageKey(payload.externalEventId) };
    try {
      await sendMessage(deps, found.authorId, input, deps.config.limits.messageMaxLength, payload.externalEventId);
    } catch (error) {
      // A concurrent delivery of the same event committed first; this one rolled back whole.
      if (violatedUniqueIndex(error) === 'inbound_events_pkey' || (await seen(deps, payload.externalEventId))) return;
      throw error;
    }
  },
};
