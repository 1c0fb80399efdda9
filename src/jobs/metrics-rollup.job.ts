import type { DataSource } from 'typeorm';
import { quantile } from '../observability/latency-buckets';
import type { JobDefinition } from './job';

const MINUTE = 60_000;
/** A minute is rolled up this long after it ends: instances store their figures every 10 s. */
const GRACE_MS = 15_000;
/** Minutes missed while no instance ran jobs are caught up this far back. */
const CATCH_UP_MINUTES = 60;

/**
 * Writes the MetricSample of one minute (idempotent: rolling a minute again rewrites the same row):
 * requests, errors and p95 from every instance's figures for it; messages, and active users (those
 * who wrote one), from the messages table.
 */
export async function rollUpMinute(dataSource: DataSource, minute: Date): Promise<void> {
  const [figures] = await dataSource.query(
    `SELECT coalesce(sum(requests), 0)::int AS requests, coalesce(sum(errors), 0)::int AS errors,
            (SELECT array_agg(total ORDER BY ord) FROM (
               SELECT b.ord, sum(b.n)::int AS total FROM metric_instance_minutes, unnest(latency_buckets) WITH ORDINALITY AS b(n, ord)
               WHERE minute = $1 GROUP BY b.ord) t) AS buckets,
            (SELECT count(*)::int FROM messages WHERE created_at >= $1 AND created_at < $1 + interval '1 minute') AS messages,
            (SELECT count(DISTINCT author_id)::int FROM messages WHERE created_at >= $1 AND created_at < $1 + interval '1 minute') AS "activeUsers"
     FROM metric_instance_minutes WHERE minute = $1`,
    [minute],
  );
  await dataSource.query(
    `INSERT INTO metric_samples (at, messages, requests, errors, active_users, p95_latency_ms) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (at) DO UPDATE SET messages = EXCLUDED.messages, requests = EXCLUDED.requests, errors = EXCLUDED.errors,
       active_users = EXCLUDED.active_users, p95_latency_ms = EXCLUDED.p95_latency_ms`,
    [minute, figures.messages, figures.requests, figures.errors, figures.activeUsers, quantile(figures.buckets ?? [], 0.95)],
  );
}

/** Every minute: rolls up each finished minute since the last sample (at most the last hour). */
export const metricsRollupJob: JobDefinition<Record<string, never>> = {
  name: 'metrics-rollup',
  schedule: '* * * * *',
  async run({ dataSource }, _payload, { now }) {
    const until = Math.floor((now().getTime() - GRACE_MS) / MINUTE) * MINUTE - MINUTE;
    const [{ last }] = await dataSource.query(`SELECT max(at) AS last FROM metric_samples`);
    const from = Math.max(last ? (last as Date).getTime() + MINUTE : -Infinity, until - (CATCH_UP_MINUTES - 1) * MINUTE);
    for (let minute = from; minute <= until; minute += MINUTE) await rollUpMinute(dataSource, new Date(minute));
  },
};
