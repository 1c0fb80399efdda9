import type { DataSource } from 'typeorm';
import type { Sql } from '../database/sql';
import { WebhookDelivery, WebhookDeliveryStatus } from '../entities/webhook-delivery.entity';
import { WebhookEndpoint } from '../entities/webhook-endpoint.entity';
import { BadUserInputError, NotFoundError } from '../errors';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';
import { newSigningSecret } from './signing';
import { checkTarget, RefusedTarget } from './targets';

/** The events an endpoint can ask for (the names the payload's `type` carries). */
export const WEBHOOK_EVENTS = ['message.created', 'message.edited', 'conversation.member_added', 'conversation.closed'] as const;

/** How long signatures under the secret before a rotation still go out beside the new one's. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60_000;

const MAX_DESCRIPTION_LENGTH = 500;

export interface NewWebhookEndpoint {
  url: string;
  events: string[];
  description?: string | null;
}

/** An endpoint as its ADMIN sees it: never the secret, which is shown once, when it is made. */
export type WebhookEndpointRecord = Omit<WebhookEndpoint, 'secret' | 'previousSecret' | 'createdBy'>;

/** An endpoint with the secret it signs with from now on: the answer to creating one or rotating its secret. */
export interface EndpointWithSecret {
  endpoint: WebhookEndpointRecord;
  secret: string;
}

const PUBLIC_COLUMNS = `id, url, events, description, enabled, failing_since AS "failingSince", disabled_reason AS "disabledReason",
  previous_secret_until AS "previousSecretUntil", created_by_id AS "createdById", created_at AS "createdAt", updated_at AS "updatedAt"`;

function checkEvents(events: string[]): string[] {
  const unique = [...new Set(events)];
  if (unique.length === 0) throw new BadUserInputError(`events must name at least one of ${WEBHOOK_EVENTS.join(', ')}.`, { field: 'events' });
  const unknown = unique.find((event) => !(WEBHOOK_EVENTS as readonly string[]).includes(event));
  if (unknown !== undefined) {
    throw new BadUserInputError(`events: ${JSON.stringify(unknown.slice(0, 100))} is not an event; choose from ${WEBHOOK_EVENTS.join(', ')}.`, { field: 'events' });
  }
  return unique;
}

async function checkUrl(url: string, allowPrivate: boolean): Promise<string> {
  try {
    return (await checkTarget(url.trim(), allowPrivate)).href;
  } catch (error) {
    if (error instanceof RefusedTarget) throw new BadUserInputError(error.message, { field: 'url' });
    throw error;
  }
}

function checkDescription(description: string | null | undefined): string | null {
  const text = description?.trim() || null;
  if (text && text.length > MAX_DESCRIPTION_LENGTH) {
    throw new BadUserInputError(`description must be at most ${MAX_DESCRIPTION_LENGTH} characters, got ${text.length}.`, { field: 'description' });
  }
  return text;
}

const endpointNotFound = () => new NotFoundError('No such webhook endpoint.');

/** Registers an endpoint (its URL checked now, and again at every delivery); answers its secret, once. */
export async function createWebhookEndpoint(dataSource: DataSource, creatorId: string, input: NewWebhookEndpoint, allowPrivate: boolean): Promise<EndpointWithSecret> {
  const events = checkEvents(input.events);
  const description = checkDescription(input.description);
  const url = await checkUrl(input.url, allowPrivate);
  const secret = newSigningSecret();
  const [endpoint] = await dataSource.query(
    `INSERT INTO webhook_endpoints (url, events, description, secret, created_by_id) VALUES ($1, $2, $3, $4, $5) RETURNING ${PUBLIC_COLUMNS}`,
    [url, events, description, secret, creatorId],
  );
  return { endpoint, secret };
}

/**
 * A new secret; the old one keeps signing beside it (a second signature in `webhook-signature`)
 * for a day, so receivers can switch over without losing a delivery. Rotating again within that
 * day ends the overlap of the one before: only the last two secrets sign.
 */
export async function rotateWebhookSecret(dataSource: DataSource, endpointId: string): Promise<EndpointWithSecret> {
  const secret = newSigningSecret();
  const [[endpoint]] = await dataSource.query(
    `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = now() + make_interval(secs => $3), secret = $2, updated_at = now()
     WHERE id = $1 RETURNING ${PUBLIC_COLUMNS}`,
    [endpointId, secret, ROTATION_OVERLAP_MS / 1000],
  );
  if (!endpoint) throw endpointNotFound();
  return { endpoint, secret };
}

/**
 * Turns an endpoint off or on. Off, no delivery is written for it and those waiting wait; on again,
 * they go out, and changes from then on are delivered (those in between are not). Enabling one that
 * Parley disabled (its attempts failed for WEBHOOK_DISABLE_AFTER) starts its run of failures afresh.
 */
export async function setWebhookEndpointEnabled(dataSource: DataSource, endpointId: string, enabled: boolean): Promise<WebhookEndpointRecord> {
  const [[endpoint]] = await dataSource.query(
    `UPDATE webhook_endpoints SET enabled = $2, updated_at = now(),
       disabled_reason = CASE WHEN $2 THEN NULL ELSE disabled_reason END, failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END
     WHERE id = $1 RETURNING ${PUBLIC_COLUMNS}`,
    [endpointId, enabled],
  );
  if (!endpoint) throw endpointNotFound();
  return endpoint;
}

/** Deliveries deleted per statement when an endpoint goes. */
const DELETE_BATCH = 1_000;

/**
 * Deletes an endpoint and its deliveries: disabled first (committed, so changes stop writing
 * deliveries for it and none waits for the deletion), its deliveries in batches, each its own short
 * transaction, then the endpoint itself.
 */
export async function deleteWebhookEndpoint(dataSource: DataSource, endpointId: string): Promise<boolean> {
  await setWebhookEndpointEnabled(dataSource, endpointId, false);
  for (;;) {
    const [, deleted] = await dataSource.query(
      `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 LIMIT ${DELETE_BATCH})`,
      [endpointId],
    );
    if (deleted < DELETE_BATCH) break;
  }
  await dataSource.query(`DELETE FROM webhook_endpoints WHERE id = $1`, [endpointId]);
  return true;
}

const ENDPOINT_ORDER: KeyOrder = {
  columns: [
    { sql: 'e.created_at', type: 'timestamptz' },
    { sql: 'e.id', type: 'uuid' },
  ],
  descending: false,
};

/** Endpoints, oldest first. */
export function listWebhookEndpoints(sql: Sql, request: PageRequest, cursorKey: CursorKey | null): Promise<PageRows<WebhookEndpointRecord>> {
  return loadPage<WebhookEndpointRecord>(sql, {
    request,
    cursorKey,
    order: ENDPOINT_ORDER,
    from: 'webhook_endpoints e',
    where: 'true',
    params: [],
    select: sql.columns(WebhookEndpoint, 'e', { omit: ['secret', 'previousSecret'] }),
  });
}

export async function findWebhookEndpoint(sql: Sql, endpointId: string): Promise<WebhookEndpointRecord> {
  const [endpoint] = await sql.rows<WebhookEndpointRecord>(`SELECT ${sql.columns(WebhookEndpoint, 'e', { omit: ['secret', 'previousSecret'] })} FROM webhook_endpoints e WHERE e.id = $1`, [endpointId]);
  if (!endpoint) throw endpointNotFound();
  return endpoint;
}

const DELIVERY_ORDER: KeyOrder = {
  columns: [
    { sql: 'd.created_at', type: 'timestamptz' },
    { sql: 'd.id', type: 'uuid' },
  ],
  descending: true,
};

/** An endpoint's deliveries, newest first, optionally of one status (DEAD: its dead letters). */
export async function listWebhookDeliveries(
  sql: Sql,
  endpointId: string,
  status: WebhookDeliveryStatus | null,
  request: PageRequest,
  cursorKey: CursorKey | null,
): Promise<PageRows<WebhookDelivery>> {
  await findWebhookEndpoint(sql, endpointId);
  return loadPage<WebhookDelivery>(sql, {
    request,
    cursorKey,
    order: DELIVERY_ORDER,
    from: 'webhook_deliveries d',
    where: status ? 'd.endpoint_id = $1 AND d.status = $2' : 'd.endpoint_id = $1',
    params: status ? [endpointId, status] : [endpointId],
    select: sql.columns(WebhookDelivery, 'd'),
  });
}

/**
 * Sends a delivery again, with the same `webhook-id` and body, after a full set of attempts: a DEAD
 * one after the receiver is mended, or a DELIVERED one a receiver lost. A waiting one is on its way.
 * It goes out once no other delivery of its lane is in flight, before the lane's later ones.
 */
export async function redeliverWebhook(dataSource: DataSource, deliveryId: string): Promise<WebhookDelivery> {
  await dataSource.query(
    `UPDATE webhook_deliveries SET status = 'PENDING', attempts = 0, next_attempt_at = now(), leased_until = NULL, lease_token = NULL
     WHERE id = $1 AND status IN ('DELIVERED', 'DEAD')`,
    [deliveryId],
  );
  const delivery = await dataSource.getRepository(WebhookDelivery).findOneBy({ id: deliveryId });
  if (!delivery) throw new NotFoundError('No such webhook delivery.');
  return delivery;
}

/** Deliveries waiting (queued or pending) and dead, over all endpoints (the metrics gauge): two partial-index scans. */
export async function webhookBacklog(dataSource: DataSource): Promise<Record<string, number>> {
  const [row] = await dataSource.query(
    `SELECT (SELECT count(*) FROM webhook_deliveries WHERE status IN ('QUEUED', 'PENDING'))::int AS pending,
            (SELECT count(*) FROM webhook_deliveries WHERE status = 'DEAD')::int AS dead`,
  );
  return row;
}
