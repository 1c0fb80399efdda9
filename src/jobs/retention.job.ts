import type { DataSource } from 'typeorm';
import type { JobDefinition } from './job';

/** Rows changed per statement: each batch is its own short transaction, so no lock is held for long. */
const BATCH = 1_000;

/** How long an account export's document is kept for its owner to download. */
export const EXPORT_TTL_DAYS = 7;

const daysBefore = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);

async function inBatches(dataSource: DataSource, sql: string, parameters: unknown[]): Promise<number> {
  let total = 0;
  for (;;) {
    const [, affected] = await dataSource.query(sql, parameters);
    total += affected;
    if (affected < BATCH) return total;
  }
}

/**
 * Daily: erases the bodies of messages deleted more than RETENTION_DELETED_DAYS ago, deletes metric
 * samples older than RETENTION_METRICS_DAYS, instance figures the rollup no longer needs, account
 * exports past their download window, sessions that ended more than a day ago, and refresh tokens
 * spent longer ago than REFRESH_TOKEN_TTL, and settled webhook deliveries older than
 * WEBHOOK_DELIVERY_RETENTION_DAYS. Idempotent: a second run finds nothing to do.
 */
export const retentionJob: JobDefinition<Record<string, never>> = {
  name: 'retention',
  schedule: '17 3 * * *',
  // Batches with pauses between them, over possibly millions of rows.
  timeoutSeconds: 2 * 60 * 60,
  async run({ dataSource, config, logger }, _payload, { now }) {
    const at = now();
    const erased = await inBatches(
      dataSource,
      `UPDATE messages SET body = NULL WHERE id IN (
         SELECT id FROM messages WHERE deleted_at < $1 AND body IS NOT NULL LIMIT ${BATCH})`,
      [daysBefore(at, config.retention.deletedMessageDays)],
    );
    const samples = await inBatches(
      dataSource,
      `DELETE FROM metric_samples WHERE at IN (SELECT at FROM metric_samples WHERE at < $1 LIMIT ${BATCH})`,
      [daysBefore(at, config.retention.metricsDays)],
    );
    const minutes = await inBatches(
      dataSource,
      `DELETE FROM metric_instance_minutes WHERE (minute, instance_id) IN (
         SELECT minute, instance_id FROM metric_instance_minutes WHERE minute < $1 LIMIT ${BATCH})`,
      [daysBefore(at, 1)],
    );
    const expiredExports = await inBatches(
      dataSource,
      `DELETE FROM account_exports WHERE id IN (SELECT id FROM account_exports WHERE requested_at < $1 LIMIT ${BATCH})`,
      [daysBefore(at, EXPORT_TTL_DAYS)],
    );
    // A session over for a day (expired, or revoked: its access tokens died with JWT_TTL) goes with
    // its refresh tokens; a token of it presented later is simply unknown.
    const endedSessions = await inBatches(
      dataSource,
      `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1 LIMIT ${BATCH})`,
      [daysBefore(at, 1)],
    );
    // A token spent longer ago than a session can last unrefreshed: presented now, it is unknown
    // rather than a reuse (its session has rotated past it for that long).
    const spentTokens = await inBatches(
      dataSource,
      `DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens WHERE replaced_at < $1 LIMIT ${BATCH})`,
      [new Date(at.getTime() - config.auth.refreshTtlMs)],
    );
    // Webhook deliveries that are settled (delivered, or dead and not sent again) carry message
    // bodies: they go after WEBHOOK_DELIVERY_RETENTION_DAYS.
    const webhookDeliveries = await inBatches(
      dataSource,
      `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status <> 'PENDING' AND created_at < $1 LIMIT ${BATCH})`,
      [daysBefore(at, config.webhooks.outbound.retentionDays)],
    );
    logger.info({ webhookDeliveries, erasedBodies: erased, metricSamples: samples, instanceMinutes: minutes, accountExports: expiredExports, sessions: endedSessions, spentTokens }, 'retention done');
  },
};
