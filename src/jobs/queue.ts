import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import { SpanKind } from '@opentelemetry/api';
import { withAdvisoryLock } from '../database/advisory-lock';
import { noTracing, type Tracing } from '../observability/tracing';
import { deadLetterQueue, type JobDefinition, type JobDeps } from './job';

export interface JobQueueOptions {
  /** The primary PostgreSQL (embedded or real). */
  url: string;
  deps: JobDeps;
  /** Every job this instance may enqueue (and, with workers on, run). */
  jobs: JobDefinition<object>[];
  /** Observes each run: metrics count them. */
  onRun?: (job: string, outcome: 'completed' | 'failed', seconds: number) => void;
  /** A job carries the trace of the request that queued it, and runs in a span of that trace. */
  tracing?: Tracing;
}

/** Where a queued job keeps its trace (taken off before the job sees its payload). */
const TRACEPARENT = '_traceparent';

export interface SendOptions {
  /** Enqueue inside this transaction: the job exists if, and only if, the change commits. */
  manager?: EntityManager;
  /** A job with this id (a uuid) is created once; sending it again does nothing and resolves null. */
  id?: string;
}

export interface JobQueue {
  send<P extends object>(job: JobDefinition<P>, payload: P, options?: SendOptions): Promise<string | null>;
  /** Jobs waiting in each dead-letter queue, by job name. */
  deadLetters(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** pg-boss's `db` option over a TypeORM transaction, so its INSERT joins the caller's change. */
function transactional(manager: EntityManager): PgBoss.Db {
  return { executeSql: async (text, values) => ({ rows: await manager.query(text, values) }) };
}

/**
 * pg-boss on Parley's PostgreSQL, its tables in JOBS_SCHEMA (created here at start-up). Every
 * instance can enqueue; with JOBS_ENABLED each also runs workers and the cron schedules, which
 * pg-boss fires once per tick across the cluster. A job that throws is retried JOB_RETRY_LIMIT
 * times with exponential backoff from JOB_RETRY_DELAY, then moved to `<job>-dead`. A job whose
 * instance died mid-run is failed once its timeout passes (JOB_TIMEOUT, or the job's own) and retried
 * by another instance; jobs are idempotent, so a slow job retried early does no harm. `stop()` lets
 * running jobs finish (or fails them for a retry elsewhere) before closing the pool.
 */
export async function startJobQueue({ url, deps, jobs, onRun, tracing = noTracing }: JobQueueOptions): Promise<JobQueue> {
  const { config, logger } = deps;
  const log = logger.child({ component: 'jobs' });
  const boss = new PgBoss({
    connectionString: url,
    schema: config.jobs.schema,
    application_name: 'parley-jobs',
    max: 4,
    supervise: config.jobs.enabled,
    // Supervision fails jobs whose worker died (their timeout passed) so they are retried elsewhere.
    maintenanceIntervalSeconds: config.jobs.maintenanceIntervalSeconds,
    schedule: config.jobs.enabled,
    migrate: true,
  });
  boss.on('error', (error) => log.warn({ err: error }, 'job queue error'));
  try {
    await withAdvisoryLock(deps.dataSource, 'jobs', async () => {
      await boss.start();
      for (const job of jobs) {
        await boss.createQueue(deadLetterQueue(job), { name: deadLetterQueue(job) });
        const options = {
          retryLimit: config.jobs.retryLimit,
          retryDelay: config.jobs.retryDelaySeconds,
          retryBackoff: true,
          expireInSeconds: job.timeoutSeconds ?? config.jobs.timeoutSeconds,
          deadLetter: deadLetterQueue(job),
        };
        await boss.createQueue(job.name, { name: job.name, ...options });
        // Settings may have changed since another instance created the queue.
        await boss.updateQueue(job.name, { name: job.name, ...options });
      }
    });
    if (config.jobs.enabled) {
      for (const job of jobs) {
        const runOne = async ({ id, data: queued, retryCount, retryLimit }: PgBoss.JobWithMetadata<object>) => {
          const startedAt = process.hrtime.bigint();
          const { [TRACEPARENT]: traceparent, ...data } = queued as Record<string, unknown>;
          try {
            await tracing.inSpan(
              `job ${job.name}`,
              { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'pg-boss', 'messaging.destination.name': job.name, 'parley.job.id': id } },
              () => job.run(deps, data, { now: () => new Date(), lastAttempt: retryCount >= retryLimit }),
              typeof traceparent === 'string' ? traceparent : undefined,
            );
            onRun?.(job.name, 'completed', Number(process.hrtime.bigint() - startedAt) / 1e9);
          } catch (error) {
            onRun?.(job.name, 'failed', Number(process.hrtime.bigint() - startedAt) / 1e9);
            log.warn({ err: error, job: job.name, jobId: id }, 'job failed; it will be retried or dead-lettered');
            await boss.fail(job.name, id, { message: error instanceof Error ? error.message : String(error) });
          }
        };
        const batchSize = job.batchSize ?? 1;
        const concurrency = job.concurrency ?? 1;
        const workerId: string = await boss.work<object>(job.name, { batchSize, pollingIntervalSeconds: 0.5, includeMetadata: true }, async (batch) => {
          // Each job of a batch succeeds or fails alone; pg-boss then completes those still active.
          // `concurrency` runners take the next job as soon as theirs is done (no wait for the slowest).
          let next = 0;
          await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, async () => {
            while (next < batch.length) await runOne(batch[next++]);
          }));
          // A full batch suggests more are waiting: poll again at once instead of after the interval.
          if (batch.length === batchSize) boss.notifyWorker(workerId);
        });
        if (job.schedule) await boss.schedule(job.name, job.schedule, job.scheduledPayload ?? {}, { tz: 'UTC' });
      }
    }
  } catch (error) {
    await boss.stop({ graceful: false, wait: true });
    throw error;
  }

  return {
    send(job, payload, { manager, id } = {}) {
      const traceparent = tracing.traceparent();
      const data = traceparent ? { ...payload, [TRACEPARENT]: traceparent } : payload;
      return boss.send(job.name, data, { ...(id ? { id } : {}), ...(manager ? { db: transactional(manager) } : {}) });
    },
    async deadLetters() {
      const sizes = await Promise.all(jobs.map(async (job) => [job.name, await boss.getQueueSize(deadLetterQueue(job))] as const));
      return Object.fromEntries(sizes);
    },
    stop: () => boss.stop({ graceful: true, wait: true, timeout: config.shutdownTimeoutMs }),
  };
}
