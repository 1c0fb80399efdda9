import express, { type Router } from 'express';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** A user as webhooks name them: public fields only. */
export interface WebhookUser {
  id: string;
  handle: string;
  displayName: string;
}

/** What Parley POSTs: the event, when it happened, and what a push, e-mail or SMS gateway needs. */
export interface ParleyWebhook {
  type: 'message.created' | 'message.edited' | 'conversation.member_added' | 'conversation.closed';
  timestamp: string;
  data: {
    conversation: { id: string; kind: string; title: string | null; status: string };
    message: { id: string; seq: number; body: string | null; createdAt: string; editedAt: string | null; replyToId: string | null; author: WebhookUser } | null;
    member: WebhookUser | null;
    mentions: WebhookUser[];
    /** Members online nowhere when the change committed, the author aside: whom to wake. */
    offlineMembers: WebhookUser[];
  };
}

/**
 * Receives Parley's webhooks: checks the Standard Webhooks signature over the raw body, answers
 * 401 to anything unsigned, and hands each event on once (a retry carries the same `webhook-id`;
 * keep the ids you handled in your database with a unique key, not in memory as here).
 */
export function parleyWebhooks(secret: string, handle: (event: ParleyWebhook) => Promise<void>): Router {
  const webhook = new Webhook(secret);
  const handled = new Set<string>();
  const router = express.Router();
  router.post('/parley-webhooks', express.raw({ type: 'application/json' }), async (request, response) => {
    let event: ParleyWebhook;
    try {
      event = webhook.verify(request.body as Buffer, request.headers as Record<string, string>) as ParleyWebhook;
    } catch (error) {
      if (error instanceof WebhookVerificationError) return void response.status(401).end();
      throw error;
    }
    const id = request.header('webhook-id')!;
    if (!handled.has(id)) {
      // Parley retries anything but a 2xx: throwing here gets the event again later.
      await handle(event);
      handled.add(id);
    }
    response.status(204).end();
  });
  return router;
}
