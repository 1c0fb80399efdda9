import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { Router } from 'express';
import { z } from 'zod';
import type { JobQueue } from '../jobs/queue';
import { inboundWebhookJob } from '../jobs/inbound-webhook.job';
import type { Logger } from '../observability/logger';
import { fromGlobalIdOf } from '../pagination/global-id';

export const SIGNATURE_HEADER = 'x-parley-signature';

/** `sha256=<hex HMAC-SHA256 of the raw body>`, as senders compute it. */
export function signInbound(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

function validSignature(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signInbound(secret, rawBody));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const inboundMessage = z.object({
  externalEventId: z.string().min(1).max(200),
  conversationId: z.string().min(1).max(200),
  authorHandle: z.string().min(1).max(64),
  body: z.string().min(1).max(20_000),
  sentAt: z.iso.datetime({ offset: true }),
});

/**
 * `POST /webhooks/inbound`: messages from external channels (an SMS or e-mail gateway posting into
 * a SUPPORT conversation). The raw body must be signed (X-Parley-Signature: sha256=<hex HMAC>);
 * a bad signature is 401 and a malformed body 400 with the reason, before anything is stored.
 * Otherwise the message is queued and the answer is 202 at once; the inbound-webhook job posts it.
 */
export function createInboundWebhookRouter({ secret, queue, logger, bodyLimit }: { secret: string; queue: JobQueue; logger: Logger; bodyLimit: number }): Router {
  const router = Router();
  router.post('/webhooks/inbound', express.raw({ type: () => true, limit: bodyLimit }), async (req, res, next) => {
    try {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!validSignature(secret, raw, req.get(SIGNATURE_HEADER))) {
        res.status(401).json({ error: `Missing or wrong ${SIGNATURE_HEADER}: expected sha256=<hex HMAC-SHA256 of the raw body>.` });
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        res.status(400).json({ error: 'The body is not JSON.' });
        return;
      }
      const parsed = inboundMessage.safeParse(json);
      if (!parsed.success) {
        res.status(400).json({ error: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ') });
        return;
      }
      let conversationId: string;
      try {
        conversationId = fromGlobalIdOf('Conversation', parsed.data.conversationId);
      } catch (error) {
        res.status(400).json({ error: `conversationId: ${(error as Error).message}` });
        return;
      }
      // Duplicates are queued too: the job finds the event already recorded and stops there.
      const jobId = await queue.send(inboundWebhookJob, { ...parsed.data, conversationId });
      res.status(202).json({ accepted: true, jobId });
    } catch (error) {
      logger.error({ err: error }, 'could not accept an inbound webhook');
      next(error);
    }
  });
  return router;
}
