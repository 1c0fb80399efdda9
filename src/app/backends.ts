import { Client, Pool } from 'pg';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { Cluster, Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import type { Services } from '../context';
import { openDatabase } from '../database/open-database';
import { searchPathOption } from '../database/data-source';
import { isPoolBusy } from '../database/pool-wait';
import { createSql } from '../database/sql';
import { createInProcessBus, createRedisBus, createShardedRedisBus, type EventBus } from '../events/bus';
import { createStringTable, type StringTable } from '../events/strings';
import { Topic } from '../events/topics';
import { accountExportJob } from '../jobs/account-export.job';
import { inboundWebhookJob } from '../jobs/inbound-webhook.job';
import type { JobDefinition } from '../jobs/job';
import { metricsRollupJob } from '../jobs/metrics-rollup.job';
import { startJobQueue } from '../jobs/queue';
import { startWebhookDispatcher, type WebhookDispatcher } from '../webhooks/dispatcher';
import { webhookBacklog } from '../webhooks/endpoints';
import { retentionJob } from '../jobs/retention.job';
import { probeDependencies, type ReadinessCheck } from '../observability/health';
import type { Logger } from '../observability/logger';
import { createMetrics, seriesBy } from '../observability/metrics';
import { createTracing, traceStatements, type Tracing } from '../observability/tracing';
import { createCursorCodec } from '../pagination/cursor';
import { createActiveAccounts } from '../security/active-accounts';
import { createLiveSessions } from '../security/live-sessions';
import { createInProcessConnectionLimits, createRedisConnectionLimits, type ConnectionLimits } from '../security/connection-limits';
import { createTokenService } from '../security/jwt';
import { createExternalTokens } from '../security/external-identity';
import { createRedisApqCache } from '../security/persisted-queries';
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from '../security/rate-limiter';
import { accountForExternalIdentity } from '../services/external-accounts';
import { announceOffline, announceOnline } from '../services/online-status';
import { startClusterMetrics } from '../subscriptions/metrics-stream';
import { createInProcessPresence, createRedisPresence, type PresenceStore } from '../subscriptions/presence';
import type { Lifecycle } from './lifecycle';

/** Everything that keeps state outside a request: the database, the bus, the Redis-backed stores, jobs. */
export interface Backends {
  services: Services;
  /** What /readyz checks. */
  readiness: ReadinessCheck[];
  rateLimiter: RateLimiter;
  connectionLimits: ConnectionLimits;
  /** Undefined: Apollo's own in-memory cache. */
  apqCache?: KeyValueCache<string>;
  /** Whether the database is the embedded one. */
  embedded: boolean;
}

export interface BackendOptions {
  config: Config;
  logger: Logger;
  instanceId: string;
  onQuery?: (sql: string, parameters?: unknown[]) => void;
  onRoundTrip?: (statements: string[]) => void;
}

/** The Redis-backed stores, or their in-process twins in single-instance mode (one interface each). */
type Stores = Pick<Backends, 'rateLimiter' | 'connectionLimits' | 'apqCache'> & { bus: EventBus; presence: PresenceStore; readiness: ReadinessCheck[] };

/** Opens each backend and registers how to close it, in the order `stop()` must undo. */
export async function openBackends({ config, logger, instanceId, onQuery, onRoundTrip }: BackendOptions, lifecycle: Lifecycle): Promise<Backends> {
  // Registered first, so closed last: spans of the shutdown itself are still sent.
  const tracing = createTracing(config.tracing, instanceId);
  lifecycle.add('tracing', () => tracing.shutdown());
  if (tracing.enabled) traceStatements({ Client });
  const database = await openDatabase(config, logger, onQuery);
  lifecycle.add('database', database.close);
  const { dataSource } = database;
  const strings = createStringTable();
  const stores = config.redis.url || config.redis.cluster ? await connectRedis({ config, logger, instanceId, dataSource, strings, tracing }, lifecycle) : inProcessStores(config, strings);
  const { bus, presence, connectionLimits } = stores;
  lifecycle.add('connection limits', () => connectionLimits.dispose());
  lifecycle.add('bus', () => bus.close());
  lifecycle.add('presence', () => presence.dispose());

  const metrics = createMetrics();
  const sql = createSql(dataSource, { prepared: config.database.preparedStatements, onQuery, onRoundTrip });
  const jobs = await startJobQueue({
    url: database.url,
    deps: { dataSource, sql, bus, logger, config, metrics },
    jobs: [inboundWebhookJob, retentionJob, accountExportJob, metricsRollupJob] as JobDefinition<object>[],
    onRun: metrics.jobRun,
    tracing,
  });
  lifecycle.add('jobs', () => jobs.stop());
  metrics.gaugeOnScrape('parley_jobs_dead_letter', 'Runs of each job (queue) in its dead-letter queue, after their retries.', ['queue'], async () => seriesBy('queue', await jobs.deadLetters()));
  const pools = [...database.pools];
  metrics.gaugeOnScrape(
    'parley_db_pool_connections',
    'Connections of each PostgreSQL pool of this instance: its max, those open, those idle, and callers waiting for one.',
    ['pool', 'state'],
    async () =>
      pools.flatMap(({ name, pool }): [Record<'pool' | 'state', string>, number][] => [
        [{ pool: name, state: 'max' }, pool.options.max],
        [{ pool: name, state: 'open' }, pool.totalCount],
        [{ pool: name, state: 'idle' }, pool.idleCount],
        [{ pool: name, state: 'waiting' }, pool.waitingCount],
      ]),
  );
  // Outbound webhooks go out from the instances that run jobs; any instance writes them (in the change's transaction).
  let webhooks: WebhookDispatcher | null = null;
  if (config.jobs.enabled) {
    const pool = new Pool({ connectionString: database.url, max: 2, idleTimeoutMillis: 30_000, application_name: 'parley-webhooks', ...searchPathOption(config) });
    pool.on('error', (error) => logger.warn({ err: error, component: 'webhooks' }, 'webhook pool connection failed'));
    lifecycle.add('webhook pool', () => pool.end());
    pools.push({ name: 'webhooks', pool });
    const dispatcher = startWebhookDispatcher({ pool, config: config.webhooks.outbound, logger, metrics });
    lifecycle.add('webhooks', () => dispatcher.stop());
    webhooks = dispatcher;
    metrics.gaugeOnScrape('parley_webhook_deliveries', 'Outbound webhook deliveries waiting (pending) and given up on (dead), over all endpoints.', ['status'], async () => seriesBy('status', await webhookBacklog(dataSource)));
  }
  const clusterMetrics = await startClusterMetrics({ instanceId, bus, metrics, presence, dataSource, logger });
  lifecycle.add('metrics', () => clusterMetrics.stop());

  const accounts = createActiveAccounts(dataSource);
  const sessions = createLiveSessions(dataSource);
  const externalTokens =
    config.auth.external &&
    createExternalTokens(config.auth.external, {
      accountFor: (identity) => accountForExternalIdentity(dataSource, identity),
      onFetchFailed: (error) => logger.warn({ err: error }, 'could not fetch the identity provider’s keys; the known ones keep working'),
    });
  lifecycle.add(
    'accounts',
    await bus.listen(Topic.accountClosed(), ({ userId }) => {
      accounts.forget(userId);
      externalTokens?.forget(userId);
    }),
  );
  lifecycle.add('sessions', await bus.listen(Topic.sessionRevoked(), ({ sessionId }) => sessions.forget(sessionId)));

  const services: Services = {
    sql,
    config,
    dataSource,
    bus,
    jobs,
    webhooks,
    metrics,
    clusterMetrics,
    accounts,
    sessions,
    ...(externalTokens ? { externalTokens } : {}),
    tokens: createTokenService({ secret: config.auth.jwtSecret, ttlSeconds: config.auth.jwtTtlSeconds }),
    presence,
    cursors: createCursorCodec(config.auth.jwtSecret),
    strings,
    logger,
    tracing,
  };
  // A pool too busy to lend a connection within DATABASE_POOL_QUEUE_TIMEOUT is overload, not an
  // unreachable PostgreSQL: the instance sheds what it cannot take, and leaving the balancer
  // together with every other busy instance would turn overload into an outage.
  const databaseAnswers = () => dataSource.query('SELECT 1').catch((error: unknown) => {
    if (!isPoolBusy(error)) throw error;
  });
  const readiness: ReadinessCheck[] = [{ name: 'database', check: databaseAnswers, required: true }, ...stores.readiness];
  metrics.gaugeOnScrape('parley_dependency_up', 'Whether each dependency answered at this scrape: 1 up, 0 down.', ['dependency'], async () => {
    // Within the scrape's own limit on a read (2 s), so a dependency that does not answer reads as down, not as its last value.
    const states = await probeDependencies(readiness, 1_000);
    return seriesBy('dependency', Object.fromEntries(Object.entries(states).map(([name, state]) => [name, state === 'up' ? 1 : 0])));
  });
  return { services, readiness, rateLimiter: stores.rateLimiter, connectionLimits, apqCache: stores.apqCache, embedded: database.embedded };
}

/**
 * Cluster mode (several instances). On one Redis node: two connections (commands time out on the
 * request path; the subscriber only (re)subscribes). On a Redis Cluster: one cluster client, whose
 * sharded subscribers ioredis keeps apart, one per master.
 */
async function connectRedis(
  { config, logger, instanceId, dataSource, strings, tracing }: Pick<BackendOptions, 'config' | 'logger' | 'instanceId'> & { dataSource: DataSource; strings: StringTable; tracing: Tracing },
  lifecycle: Lifecycle,
): Promise<Stores> {
  const { keyPrefix } = config.redis;
  const options = { lazyConnect: true, connectionName: `parley:${instanceId}` };
  let publisher: Redis | Cluster;
  let bus: EventBus;
  if (config.redis.cluster) {
    const cluster = new Cluster(config.redis.cluster.nodes, {
      lazyConnect: true,
      shardedSubscribers: true,
      redisOptions: { connectionName: options.connectionName, commandTimeout: config.redis.commandTimeoutMs, password: config.redis.cluster.password },
      // A failed master's slots are served again once its replica is promoted (a few seconds); until then, commands wait and retry.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
    });
    cluster.on('error', (error) => logger.warn({ err: error }, 'Redis Cluster error'));
    lifecycle.add('redis', () => cluster.quit());
    await cluster.connect();
    publisher = cluster;
    bus = createShardedRedisBus(cluster, keyPrefix, strings, (error, channel) => logger.error({ err: error, channel }, 'a sharded event could not be handled'), tracing);
  } else {
    const url = config.redis.url!;
    const single = new Redis(url, { ...options, commandTimeout: config.redis.commandTimeoutMs });
    const subscriber = new Redis(url, options);
    lifecycle.add('redis', () => Promise.all([single.quit(), subscriber.quit()]));
    await Promise.all([single.connect(), subscriber.connect()]);
    publisher = single;
    bus = createRedisBus(single, subscriber, keyPrefix, strings, tracing);
  }
  const announcing = { dataSource, bus, logger };
  const warn = (what: string) => (error: unknown) => logger.warn({ err: error }, what);
  return {
    bus,
    presence: createRedisPresence({
      redis: publisher,
      hashTagged: Boolean(config.redis.cluster),
      keyPrefix,
      instanceId,
      ttlMs: config.realtime.presenceTtlMs,
      onExpired: (userIds) => void announceOffline(announcing, userIds).catch(warn('could not record expired presence')),
      onRevived: (userIds) => userIds.forEach((userId) => announceOnline(announcing, userId)),
      onError: warn('presence heartbeat failed'),
    }),
    rateLimiter: createRedisRateLimiter(publisher, keyPrefix),
    connectionLimits: createRedisConnectionLimits({
      redis: publisher,
      keyPrefix,
      instanceId,
      caps: { perUser: config.limits.connectionsPerUser, perAddress: config.limits.connectionsPerAddress },
      ttlMs: config.realtime.presenceTtlMs,
      onError: warn('connection counts unavailable; counting this instance’s own'),
    }),
    apqCache: createRedisApqCache(publisher, `${keyPrefix}apq:`, warn('APQ cache unavailable; treated as a miss')),
    // Not required: without Redis an instance still serves and commits, and repairs delivery later.
    readiness: [{ name: 'redis', check: () => redisAnswers(publisher), required: false }],
  };
}

/**
 * Whether Redis serves: a PING for one node. A cluster node answers PING even when the cluster
 * has lost slots (a master gone with no replica), so there the check asks for cluster_state:ok.
 */
async function redisAnswers(redis: Redis | Cluster): Promise<void> {
  if (!(redis instanceof Cluster)) {
    await redis.ping();
    return;
  }
  const info = String(await redis.cluster('INFO'));
  if (!info.includes('cluster_state:ok')) throw new Error(`the Redis Cluster is not ok: ${/cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown'}`);
}

/** Single-instance mode: everything in this process. */
function inProcessStores(config: Config, strings: StringTable): Stores {
  return {
    bus: createInProcessBus(strings),
    presence: createInProcessPresence(),
    rateLimiter: createMemoryRateLimiter(),
    connectionLimits: createInProcessConnectionLimits({ perUser: config.limits.connectionsPerUser, perAddress: config.limits.connectionsPerAddress }),
    readiness: [],
  };
}
