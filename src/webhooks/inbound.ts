import { createHmac } from 'node:crypto';
import express, { Router } from 'express';
import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { ConversationKind, ConversationStatus } from '../entities/conversation.entity';
import { AppError } from '../errors';
import type { JobQueue } from '../jobs/queue';
import { inboundWebhookJob } from '../jobs/inbound-webhook.job';
import type { Logger } from '../observability/logger';
import { fromGlobalIdOf } from '../pagination/global-id';
import { nulCharacterAt } from '../security/operation-guards.plugin';
import { sameSecret } from '../secrets';
import { checkBody } from '../services/text';

export const SIGNATURE_HEADER = 'x-parley-signature';

/** `sha256=<hex HMAC-SHA256 of the raw body>`, as senders compute it. */
export function signInbound(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

function validSignature(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  return header !== undefined && sameSecret(header.trim(), signInbound(secret, rawBody));
}

const inboundMessage = z.object({
  externalEventId: z.string().min(1).max(200),
  conversationId: z.string().min(1).max(200),
  authorHandle: z.string().min(1).max(64),
  body: z.string().min(1).max(20_000),
  sentAt: z.iso.datetime({ offset: true }),
});

/**
 * Why a message could not be posted, as far as it can be known now: the conversation exists, is a
 * SUPPORT conversation and open, the author's handle names a live account that is a member. Null
 * when it can be posted. One statement.
 */
async function cannotPost(dataSource: DataSource, conversationId: string, authorHandle: string): Promise<string | null> {
  const [row] = await dataSource.query(
    `SELECT c.kind, c.status, u.id AS "authorId",
            EXISTS (SELECT 1 FROM memberships m WHERE m.conversation_id = c.id AND m.user_id = u.id) AS member
     FROM conversations c LEFT JOIN users u ON lower(u.handle) = lower($2) AND u.deleted_at IS NULL
     WHERE c.id = $1`,
    [conversationId, authorHandle],
  );
  if (!row) return 'conversationId: no such conversation.';
  if (row.kind !== ConversationKind.SUPPORT) return `conversationId: a ${row.kind} conversation; webhooks post only into SUPPORT conversations.`;
  if (row.status !== ConversationStatus.OPEN) return 'conversationId: the conversation is closed.';
  if (!row.authorId) return `authorHandle: no user @${authorHandle}.`;
  if (!row.member) return `authorHandle: @${authorHandle} is not a member of the conversation.`;
  return null;
}

export interface InboundWebhookOptions {
  secret: string;
  queue: JobQueue;
  dataSource: DataSource;
  logger: Logger;
  bodyLimit: number;
  /** MESSAGE_MAX_LENGTH: the body is checked as sendMessage checks it. */
  messageMaxLength: number;
}

/**
 * `POST /webhooks/inbound`: messages from external channels (an SMS or e-mail gateway posting into
 * a SUPPORT conversation). The raw body must be signed (X-Parley-Signature: sha256=<hex HMAC>);
 * a bad signature is 401, and everything that can be known before posting is checked first — the
 * body's shape and text, the conversation, the author and their membership — with 400 and the
 * reason, and nothing stored. Otherwise the message is queued and the answer is 202 at once; the
 * inbound-webhook job posts it.
 */
export function createInboundWebhookRouter({ secret, queue, dataSource, logger, bodyLimit, messageMaxLength }: InboundWebhookOptions): Router {
  const router = Router();
  /**
   * Conversation and author pairs found postable a moment ago: a gateway posting a conversation's
   * messages one after another is checked once every few seconds, not once a message. The check is
   * the sender's early answer; the job checks again when it posts (a conversation closed meanwhile
   * refuses the message there, and the job is dead-lettered with the reason).
   */
  const canPost = new LRUCache<string, true>({ max: 10_000, ttl: 5_000 });
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
      const nul = nulCharacterAt(json);
      if (nul) {
        res.status(400).json({ error: `Text may not contain NUL characters (U+0000); found in ${nul}.` });
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
      try {
        checkBody(parsed.data.body, messageMaxLength);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        res.status(400).json({ error: error.message });
        return;
      }
      const postable = `${conversationId} ${parsed.data.authorHandle.toLowerCase()}`;
      if (!canPost.get(postable)) {
        const problem = await cannotPost(dataSource, conversationId, parsed.data.authorHandle);
        if (problem) {
          res.status(400).json({ error: problem });
          return;
        }
        canPost.set(postable, true);
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
