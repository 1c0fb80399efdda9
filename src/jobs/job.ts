import type { DataSource } from 'typeorm';
import type { Sql } from '../database/sql';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { EventBus } from '../events/bus';

/** What a job may use. Jobs get it from the queue, tests build it themselves. */
export interface JobDeps {
  dataSource: DataSource;
  /** Lean statements (database/sql.ts); sendMessage's one statement runs there. */
  sql: Sql;
  bus: EventBus;
  logger: Logger;
  config: Config;
  metrics?: Metrics;
}

/** The job's notion of now; tests pass a fixed one. */
export type Clock = () => Date;

export interface RunContext {
  now: Clock;
  /** No retry follows if this run fails: the job goes to its dead-letter queue. */
  lastAttempt: boolean;
}

/**
 * One kind of background job: a queue name, a typed payload and an idempotent handler. Each
 * `*.job.ts` exports one; queue.ts creates its queue (and dead-letter queue), its workers and, for
 * scheduled jobs, its cron schedule, which pg-boss runs once per tick across the whole cluster.
 */
export interface JobDefinition<P extends object> {
  /** pg-boss queue name: letters, digits, `-` and `_`. */
  name: string;
  /** Cron expression (UTC) for jobs the queue runs on a schedule, with `scheduledPayload`. */
  schedule?: string;
  scheduledPayload?: P;
  /** Jobs fetched per poll; each runs, and fails or completes, on its own. Default 1. */
  batchSize?: number;
  /** How many jobs of a batch run at once. Default 1. */
  concurrency?: number;
  /** Seconds after which a running job counts as lost and is retried elsewhere; default JOB_TIMEOUT. */
  timeoutSeconds?: number;
  /** Runs one job. Throwing fails it: it is retried with backoff, then moved to the dead-letter queue. */
  run(deps: JobDeps, payload: P, context: RunContext): Promise<void>;
}

export const deadLetterQueue = (job: { name: string }) => `${job.name}-dead`;
