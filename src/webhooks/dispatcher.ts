import http from 'node:http';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import type { Pool } from 'pg';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { webhookHeaders } from './signing';
import { DNS_TIMEOUT_MS, hostOf, RefusedTarget, resolveTarget } from './targets';

/** The `webhook-id` of a delivery: stable across its attempts, so receivers can drop repeats. */
export const webhookIdOf = (deliveryId: string) => `msg_${deliveryId.replace(/-/g, '')}`;

/** Longest retry wait, however many attempts came before. */
const MAX_RETRY_DELAY_MS = 60 * 60_000;
/** What is kept of a failed attempt's error. */
const MAX_ERROR_LENGTH = 500;

interface Claimed {
  id: string;
  leaseToken: string;
  endpointId: string;
  url: string;
  body: string;
  attempts: number;
  secrets: string[];
}

/** The outcome of one attempt: a status (2xx delivered it), or why there was none. */
type Attempt = { status: number } | { error: string };

export interface WebhookDispatcher {
  /** Looks for due deliveries now rather than at the next poll. */
  kick(): void;
  /** Stops taking deliveries and waits for those in flight. */
  stop(): Promise<void>;
}

export interface DispatcherOptions {
  /**
   * A small pool of its own (search_path on Parley's schema), as pg-boss has: its polls never wait
   * behind requests for a connection, and never show among a request's statements.
   */
  pool: Pool;
  config: Config['webhooks']['outbound'];
  logger: Logger;
  metrics?: Metrics;
}

/**
 * Sends the deliveries the change transactions wrote (migration 1732390000000), on every instance
 * that runs jobs. A claim leases due deliveries for this instance (SKIP LOCKED: instances never
 * take the same one) and takes only the first pending delivery of each lane (endpoint and
 * conversation), so a lane goes out in seq order, one at a time, retries included; a lease that
 * outlives its instance lapses and another instance sends it again, with the same `webhook-id`.
 *
 * Attempts run beside each other up to WEBHOOK_CONCURRENCY per instance, and one endpoint gets at
 * most a quarter of them: a slow endpoint fills its own share and no more, so another endpoint's
 * deliveries still go out. Nothing here runs inside a request: sendMessage only writes rows.
 *
 * Each attempt resolves the host again and refuses a private address (DNS can change after the
 * endpoint was saved), connects to the address it checked, follows no redirect, and gives up after
 * WEBHOOK_TIMEOUT. A 2xx delivers; anything else is retried after WEBHOOK_RETRY_DELAY, doubling up
 * to an hour, until WEBHOOK_MAX_ATTEMPTS: then the delivery is DEAD until `redeliver`.
 *
 * Why not a pg-boss job per delivery: pg-boss retries a failed job later while the jobs behind it
 * run, so a conversation's deliveries would overtake each other at the first failure; and one queue
 * for every endpoint lets a slow endpoint fill every worker. A delivery row keeps what a job would
 * give (written in the change's transaction, durable, leased so that a dead instance's work is taken
 * over, retried with backoff, dead-lettered) and adds lane order and per-endpoint shares.
 */
export function startWebhookDispatcher({ pool, config, logger, metrics }: DispatcherOptions): WebhookDispatcher {
  const log = logger.child({ component: 'webhooks' });
  const perEndpoint = Math.max(1, Math.floor(config.concurrency / 4));
  // An attempt is bounded by its DNS timeout and its request timeout; the lease outlasts both.
  const leaseSeconds = Math.ceil((config.timeoutMs + DNS_TIMEOUT_MS) / 1000) + 30;
  const inFlight = new Map<string, number>();
  const running = new Set<Promise<void>>();
  let total = 0;
  let stopped = false;
  let claiming: Promise<void> | null = null;
  let again = false;

  const query = async <T>(text: string, values: unknown[]): Promise<T[]> => (await pool.query(text, values)).rows as T[];

  const claim = (limit: number, saturated: string[]): Promise<Claimed[]> =>
    query<Claimed>(
      `UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => $3), lease_token = gen_random_uuid()
       FROM webhook_endpoints e
       WHERE e.id = d.endpoint_id AND d.id IN (
         SELECT c.id FROM webhook_deliveries c
         WHERE c.status = 'PENDING' AND c.next_attempt_at <= now() AND (c.leased_until IS NULL OR c.leased_until < now())
           AND c.endpoint_id <> ALL ($2::uuid[])
           AND EXISTS (SELECT 1 FROM webhook_endpoints ce WHERE ce.id = c.endpoint_id AND ce.enabled)
           -- The first of its lane, and none of its lane in flight (a redelivered one may be PENDING beside the head).
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.status = 'PENDING' AND p.endpoint_id = c.endpoint_id
                             AND p.conversation_id = c.conversation_id AND p.id <> c.id AND (p.seq < c.seq OR p.leased_until > now()))
         ORDER BY c.next_attempt_at
         LIMIT $1
         FOR UPDATE OF c SKIP LOCKED)
       RETURNING d.id, d.lease_token AS "leaseToken", d.endpoint_id AS "endpointId", e.url, d.payload::text AS body, d.attempts,
         CASE WHEN e.previous_secret_until > now() THEN ARRAY[e.secret, e.previous_secret] ELSE ARRAY[e.secret] END AS secrets`,
      [limit, saturated, leaseSeconds],
    );

  const release = (claimed: Claimed[]) =>
    query(`UPDATE webhook_deliveries SET leased_until = NULL, lease_token = NULL WHERE id = ANY ($1::uuid[]) AND lease_token = ANY ($2::uuid[])`, [
      claimed.map((delivery) => delivery.id),
      claimed.map((delivery) => delivery.leaseToken),
    ]);

  /**
   * Records an attempt, if this claim still holds the lease (a lease that lapsed was taken over, and
   * the attempt of the claim that holds it now is the one that counts), in one transaction: the
   * delivery; when it leaves its lane (delivered or dead), the promotion of the next one; and the
   * endpoint's run of failures, which disables it once it has lasted WEBHOOK_DISABLE_AFTER.
   */
  const settle = async (delivery: Claimed, attempt: Attempt): Promise<void> => {
    const attempts = delivery.attempts + 1;
    const delivered = 'status' in attempt && attempt.status >= 200 && attempt.status < 300;
    const dead = !delivered && attempts >= config.maxAttempts;
    const delayMs = Math.min(MAX_RETRY_DELAY_MS, config.retryDelayMs * 2 ** (attempts - 1));
    const error = delivered ? null : 'error' in attempt ? attempt.error.slice(0, MAX_ERROR_LENGTH) : `answered ${attempt.status}`;
    const status = delivered ? 'DELIVERED' : dead ? 'DEAD' : 'PENDING';
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ conversationId: string }>(
        `UPDATE webhook_deliveries SET status = $3, attempts = $4, leased_until = NULL, lease_token = NULL, last_status_code = $5, last_error = $6,
           delivered_at = CASE WHEN $3 = 'DELIVERED' THEN now() END, next_attempt_at = now() + make_interval(secs => $7)
         WHERE id = $1 AND lease_token = $2 RETURNING conversation_id AS "conversationId"`,
        [delivery.id, delivery.leaseToken, status, attempts, 'status' in attempt ? attempt.status : null, error, delayMs / 1000],
      );
      if (rows.length === 0) {
        await client.query('ROLLBACK');
        log.warn({ deliveryId: delivery.id }, 'a webhook attempt outlived its lease; the attempt that took it over counts');
        return;
      }
      if (status !== 'PENDING') {
        // A statement of its own: it sees a delivery queued by a change that committed while the one above waited.
        await client.query(
          `UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = now() WHERE id = (
             SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND conversation_id = $2 AND status = 'QUEUED' ORDER BY seq LIMIT 1)`,
          [delivery.endpointId, rows[0].conversationId],
        );
      }
      if (delivered) await client.query(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, [delivery.endpointId]);
      else {
        await client.query(
          `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()),
             enabled = enabled AND NOT coalesce($2 AND failing_since < now() - make_interval(secs => $3), false),
             disabled_reason = CASE WHEN enabled AND $2 AND failing_since < now() - make_interval(secs => $3)
               THEN 'Every attempt failed since ' || parley_iso(failing_since) || '; the last: ' || $4 ELSE disabled_reason END
           WHERE id = $1`,
          [delivery.endpointId, dead, config.disableAfterMs / 1000, error],
        );
      }
      await client.query('COMMIT');
    } catch (failure) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw failure;
    } finally {
      client.release();
    }
    metrics?.webhookAttempt(delivered ? 'delivered' : dead ? 'dead' : 'failed');
    if (!delivered) log.warn({ deliveryId: delivery.id, endpointId: delivery.endpointId, attempts, error, dead }, dead ? 'webhook delivery is dead' : 'webhook attempt failed; it will be retried');
  };

  const send = async (delivery: Claimed): Promise<void> => {
    let attempt: Attempt;
    try {
      attempt = await post(delivery, config);
    } catch (error) {
      attempt = { error: error instanceof Error ? error.message : String(error) };
    }
    try {
      await settle(delivery, attempt);
    } catch (error) {
      // The lease lapses and the delivery is sent again: at least once, never lost.
      log.warn({ err: error, deliveryId: delivery.id }, 'could not record a webhook attempt');
    }
  };

  const start = (delivery: Claimed) => {
    total++;
    inFlight.set(delivery.endpointId, (inFlight.get(delivery.endpointId) ?? 0) + 1);
    const done: Promise<void> = send(delivery).finally(() => {
      total--;
      const left = inFlight.get(delivery.endpointId)! - 1;
      if (left === 0) inFlight.delete(delivery.endpointId);
      else inFlight.set(delivery.endpointId, left);
      running.delete(done);
      // The next delivery of its lane is due now.
      kick();
    });
    running.add(done);
  };

  const poll = async (): Promise<void> => {
    const free = config.concurrency - total;
    if (free <= 0) return;
    const saturated = [...inFlight].filter(([, count]) => count >= perEndpoint).map(([id]) => id);
    const claimed = await claim(free, saturated);
    const extra: Claimed[] = [];
    for (const delivery of claimed) {
      if (stopped || (inFlight.get(delivery.endpointId) ?? 0) >= perEndpoint) extra.push(delivery);
      else start(delivery);
    }
    if (extra.length > 0) await release(extra);
    // A full claim suggests more are due.
    if (claimed.length === free && extra.length === 0) again = true;
  };

  /** One claim at a time; a kick during one runs another right after it. */
  const kick = () => {
    if (stopped) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = (async () => {
      do {
        again = false;
        try {
          await poll();
        } catch (error) {
          log.warn({ err: error }, 'could not claim webhook deliveries; trying again at the next poll');
          again = false;
        }
      } while (again && !stopped);
      claiming = null;
    })();
  };

  const timer = setInterval(kick, config.pollIntervalMs);
  timer.unref();
  kick();

  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A claim under way finishes (and hands back what it took) before the pool closes.
      await claiming;
      await Promise.allSettled([...running]);
    },
  };
}

/**
 * One attempt: POST the body, signed, to the endpoint. The host is resolved and checked here, and
 * the connection goes to an address that passed (no second lookup that DNS could answer otherwise).
 */
async function post(delivery: Claimed, config: Config['webhooks']['outbound']): Promise<Attempt> {
  const url = new URL(delivery.url);
  let addresses: LookupAddress[];
  try {
    addresses = await resolveTarget(hostOf(url), config.allowPrivateTargets);
  } catch (error) {
    if (error instanceof RefusedTarget) return { error: `refused: ${error.message}` };
    throw error;
  }
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Parley-Webhooks/1',
    ...webhookHeaders(delivery.secrets, webhookIdOf(delivery.id), delivery.body, new Date()),
  };
  const [first] = addresses;
  return new Promise<Attempt>((resolve) => {
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(delivery.body) },
        // The checked address, whatever the name resolves to by now.
        lookup: (_host, options, callback) => {
          if ((options as { all?: boolean }).all) (callback as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
          else callback(null, first.address, first.family);
        },
        signal: AbortSignal.timeout(config.timeoutMs),
        agent: false,
      },
      (response) => {
        // Only the status counts; the body is read and dropped so the socket can close.
        response.resume();
        resolve({ status: response.statusCode ?? 0 });
      },
    );
    request.on('error', (error) => resolve({ error: error.name === 'AbortError' || error.name === 'TimeoutError' ? `no answer within ${config.timeoutMs} ms` : error.message }));
    request.end(delivery.body);
  });
}
