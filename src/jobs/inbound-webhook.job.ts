import { createHash } from 'node:crypto';
import { violatedUniqueIndex } from '../database/postgres-errors';
import { postInbound } from '../services/messages';
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
 * Posts the message through the same statement as sendMessage (postInbound), so it takes a seq, reaches subscribers and is counted like
 * any other, and records the event in `inbound_events` in the same transaction: an event seen
 * before — redelivered later, raced by a concurrent delivery, even naming another author — is done.
 */
export const inboundWebhookJob: JobDefinition<InboundWebhookPayload> = {
  name: 'inbound-webhook',
  batchSize: 20,
  // Well under DATABASE_POOL_MAX: a burst must leave connections for the API.
  concurrency: 4,
  async run(deps, payload) {
    const event = { ...payload, clientMessageId: webhookMessageKey(payload.externalEventId) };
    try {
      // The event's checks and the send in one statement (postInbound): a redelivery finds it seen.
      await postInbound(deps, event, deps.config.limits.messageMaxLength);
    } catch (error) {
      // A concurrent delivery of the same event committed first; this one rolled back whole.
      const index = violatedUniqueIndex(error);
      if (index === 'inbound_events_pkey' || index === 'messages_author_client_message_id_key' || (await seen(deps, payload.externalEventId))) return;
      throw error;
    }
  },
};
