import 'reflect-metadata';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express from 'express';
import { Redis } from 'ioredis';
import type { Config } from './config';
import { createContext, type Context, type Services } from './context';
import { openDatabase } from './database/open-database';
import { createFormatError, UnauthenticatedError } from './errors';
import { createHealthRouter, type ReadinessCheck } from './observability/health';
import { createLogger, type Logger } from './observability/logger';
import { createErrorLoggingPlugin } from './observability/error-logging.plugin';
import { startClusterMetrics } from './observability/cluster-metrics';
import { createMetrics } from './observability/metrics';
import { createMetricsPlugin } from './observability/metrics.plugin';
import { accountExportJob } from './jobs/account-export.job';
import { inboundWebhookJob } from './jobs/inbound-webhook.job';
import type { JobDefinition } from './jobs/job';
import { metricsRollupJob } from './jobs/metrics-rollup.job';
import { startJobQueue } from './jobs/queue';
import { retentionJob } from './jobs/retention.job';
import { createUiRouter } from './ui/static';
import { createInboundWebhookRouter } from './webhooks/inbound';
import { createCursorCodec } from './pagination/cursor';
import { buildParleySchema } from './schema';
import { applyRateLimits } from './directives/rate-limit.directive';
import { createActiveAccounts } from './security/active-accounts';
import { authenticate } from './security/auth';
import { bodyErrorHandler, createLastErrorHandler } from './security/http-errors';
import { createClientAddress } from './security/client-address';
import { createInProcessConnectionLimits, createRedisConnectionLimits, type ConnectionLimits } from './security/connection-limits';
import { operationGuards } from './security/operation-guards.plugin';
import { checkTrustedDocuments, createRedisApqCache, loadManifest, trustedDocumentsMiddleware } from './security/persisted-queries';
import { apqDocumentSizeLimit, apqRegistrationPlugin } from './security/apq-registration';
import { createQueryCost } from './security/query-cost';
import { queryCostPlugin } from './security/query-cost.plugin';
import { queryLimitRules, queryParseOptions } from './security/query-limits';
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './security/rate-limiter';
import { InvalidTokenError, createTokenService } from './security/jwt';
import { announceOffline, announceOnline } from './services/online-status';
import { createInProcessPresence, createRedisPresence, type PresenceStore } from './subscriptions/presence';
import { createInProcessBus, createRedisBus, type EventBus } from './subscriptions/pubsub';
import { Topic } from './subscriptions/topics';
import { attachWsServer } from './subscriptions/ws-server';

export interface App {
  /** `http://host:port/graphql`; valid after `start()`. */
  readonly url: string;
  /** Names this process among the instances of a cluster (Redis connection names, presence, metrics). */
  readonly instanceId: string;
  readonly services: Services;
  readonly bus: EventBus;
  /** Starts listening on `config.port` (0 picks a free port). */
  start(): Promise<void>;
  /** Undoes start-up in reverse order; safe to call more than once. */
  stop(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
  /** Sees every SQL statement; tests count statements with it. */
  onQuery?: (sql: string, parameters?: unknown[]) => void;
}

interface Disposable {
  name: string;
  dispose(): Promise<unknown> | unknown;
}

/**
 * The composition root: the only place that creates the database, Redis clients, bus, schema and
 * servers. If any step fails, what was already created is disposed before the error propagates.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config);
  const instanceId = randomUUID();
  const disposables: Disposable[] = [];
  let shuttingDown = false;
  let stopping: Promise<void> | undefined;

  const stop = () =>
    (stopping ??= (async () => {
      shuttingDown = true;
      for (const { name, dispose } of disposables.reverse()) {
        try {
          logger.debug({ component: name }, 'stopping');
          await dispose();
        } catch (error) {
          logger.error({ err: error, component: name }, 'failed to stop cleanly');
        }
      }
      logger.info('stopped');
    })());

  try {
    if (config.auth.jwtSecretGenerated) {
      logger.warn('JWT_SECRET is not set: using a random secret, so tokens stop working when this process exits');
    }

    const database = await openDatabase(config, logger, options.onQuery);
    disposables.push({ name: 'database', dispose: database.close });
    const { dataSource } = database;

    const readiness: ReadinessCheck[] = [{ name: 'database', check: () => dataSource.query('SELECT 1') }];
    let bus: EventBus;
    let presence: PresenceStore;
    let rateLimiter: RateLimiter;
    let connectionLimits: ConnectionLimits;
    const connectionCaps = { perUser: config.limits.connectionsPerUser, perAddress: config.limits.connectionsPerAddress };
    /** Undefined: Apollo's in-memory cache. */
    let apqCache: KeyValueCache<string> | undefined;
    if (config.redis.url) {
      const redisOptions = { lazyConnect: true, connectionName: `parley:${instanceId}` };
      // Commands on the request path time out; the subscriber connection only (re)subscribes.
      const publisher = new Redis(config.redis.url, { ...redisOptions, commandTimeout: config.redis.commandTimeoutMs });
      const subscriber = new Redis(config.redis.url, redisOptions);
      disposables.push({ name: 'redis', dispose: () => Promise.all([publisher.quit(), subscriber.quit()]) });
      await Promise.all([publisher.connect(), subscriber.connect()]);
      bus = createRedisBus(publisher, subscriber, config.redis.keyPrefix);
      presence = createRedisPresence({
        redis: publisher,
        keyPrefix: config.redis.keyPrefix,
        instanceId,
        ttlMs: config.realtime.presenceTtlMs,
        onExpired: (userIds) => void announceOffline({ dataSource, bus, logger }, userIds).catch((error: unknown) => logger.warn({ err: error }, 'could not record expired presence')),
        onRevived: (userIds) => userIds.forEach((userId) => announceOnline({ dataSource, bus, logger }, userId)),
        onError: (error) => logger.warn({ err: error }, 'presence heartbeat failed'),
      });
      readiness.push({ name: 'redis', check: () => publisher.ping() });
      rateLimiter = createRedisRateLimiter(publisher, config.redis.keyPrefix);
      connectionLimits = createRedisConnectionLimits({
        redis: publisher,
        keyPrefix: config.redis.keyPrefix,
        instanceId,
        caps: connectionCaps,
        ttlMs: config.realtime.presenceTtlMs,
        onError: (error) => logger.warn({ err: error }, 'connection counts unavailable; counting this instance’s own'),
      });
      apqCache = createRedisApqCache(publisher, `${config.redis.keyPrefix}apq:`, (error) => logger.warn({ err: error }, 'APQ cache unavailable; treated as a miss'));
    } else {
      bus = createInProcessBus();
      presence = createInProcessPresence();
      rateLimiter = createMemoryRateLimiter();
      connectionLimits = createInProcessConnectionLimits(connectionCaps);
    }
    disposables.push({ name: 'connection limits', dispose: () => connectionLimits.dispose() });
    disposables.push({ name: 'bus', dispose: () => bus.close() });
    disposables.push({ name: 'presence', dispose: () => presence.dispose() });

    const metrics = createMetrics();
    const jobs = await startJobQueue({
      url: database.url,
      deps: { dataSource, bus, logger, config, metrics },
      jobs: [inboundWebhookJob, retentionJob, accountExportJob, metricsRollupJob] as JobDefinition<object>[],
      onRun: metrics.jobRun,
    });
    disposables.push({ name: 'jobs', dispose: () => jobs.stop() });
    metrics.gaugeOnScrape('parley_jobs_dead_letter', 'Jobs in the dead-letter queue of each job, after their retries.', 'job', () => jobs.deadLetters());
    const clusterMetrics = await startClusterMetrics({ instanceId, bus, metrics, presence, dataSource, logger });
    disposables.push({ name: 'metrics', dispose: () => clusterMetrics.stop() });

    const accounts = createActiveAccounts(dataSource);
    const stopForgettingAccounts = await bus.listen(Topic.accountClosed(), ({ userId }) => accounts.forget(userId));
    disposables.push({ name: 'accounts', dispose: stopForgettingAccounts });

    const production = config.env === 'production';
    const services: Services = {
      config,
      dataSource,
      bus,
      jobs,
      metrics,
      clusterMetrics,
      accounts,
      tokens: createTokenService({ secret: config.auth.jwtSecret, ttlSeconds: config.auth.jwtTtlSeconds }),
      presence,
      cursors: createCursorCodec(config.auth.jwtSecret),
      logger,
    };
    const schema = applyRateLimits(await buildParleySchema({ pubSub: bus }), {
      ...config.rateLimits,
      limiter: rateLimiter,
      onRefused: metrics.rateLimited,
      byAddress: ['Mutation.signUp', 'Mutation.signIn'],
    });
    const formatError = createFormatError({ production });
    const validationRules = queryLimitRules(config.limits.query);
    const parseOptions = queryParseOptions(config.limits.query);
    const queryCost = createQueryCost(schema, config.limits.query.cost);
    const clientAddress = createClientAddress(config.http.trustProxy);
    const trustedDocuments = config.persistedQueries.mode === 'trusted' ? loadManifest(config.persistedQueries.manifestPath) : undefined;
    if (trustedDocuments) checkTrustedDocuments(trustedDocuments, { schema, validationRules, parseOptions, queryCost });

    const expressApp = express();
    expressApp.disable('x-powered-by');
    // Which instance answered, behind a load balancer (HTTP responses and WebSocket upgrades).
    expressApp.use((_req, res, next) => {
      res.setHeader('x-parley-instance', instanceId);
      next();
    });
    const httpServer: Server = createServer(expressApp);

    const apollo = new ApolloServer<Context>({
      schema,
      formatError,
      validationRules,
      parseOptions,
      includeStacktraceInErrorResponses: !production,
      introspection: !production,
      allowBatchedHttpRequests: false,
      csrfPrevention: true,
      persistedQueries:
        config.persistedQueries.mode === 'apq'
          ? { cache: apqCache, ttl: config.persistedQueries.ttlSeconds }
          : false,
      // main.ts owns signals: Apollo's own handler would stop the server out of order and re-raise.
      stopOnTerminationSignals: false,
      plugins: [
        ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownTimeoutMs }),
        createErrorLoggingPlugin(),
        operationGuards(),
        queryCostPlugin(queryCost),
        ...(config.persistedQueries.mode === 'apq'
          ? [apqRegistrationPlugin({ register: config.persistedQueries.register, rate: config.persistedQueries.registerRate, limiter: rateLimiter })]
          : []),
        createMetricsPlugin(metrics),
        // Parley sets no cache hints (every answer is private); Apollo's default cache-control plugin
        // would still wrap every field resolver of every request to look for them.
        ApolloServerPluginCacheControlDisabled(),
        production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
      ],
    });
    await apollo.start();
    disposables.push({ name: 'http', dispose: () => apollo.stop() });
    // Disposed before the HTTP drain: it closes every socket with 1001 instead of letting the drain cut them.
    const ws = await attachWsServer({ instanceId, httpServer, path: '/graphql', schema, services, logger, formatError, validationRules, queryCost, parseOptions, trustedDocuments, clientAddress, connectionLimits });
    disposables.push({ name: 'websocket', dispose: ws.dispose });

    expressApp.use(createHealthRouter({ checks: readiness, isShuttingDown: () => shuttingDown }));
    expressApp.get('/metrics', async (req, res) => {
      if (config.http.metricsToken && !sameSecret(req.headers.authorization ?? '', `Bearer ${config.http.metricsToken}`)) {
        res.status(401).setHeader('www-authenticate', 'Bearer').type('text').send('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.');
        return;
      }
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
    if (config.http.uiEnabled) expressApp.use(createUiRouter(logger));
    if (config.webhooks.inboundSecret) {
      expressApp.use(
        createInboundWebhookRouter({ secret: config.webhooks.inboundSecret, queue: jobs, dataSource, logger, bodyLimit: config.limits.httpBodyBytes, messageMaxLength: config.limits.messageMaxLength }),
      );
    }
    expressApp.use(
      '/graphql',
      cors({ origin: config.http.corsOrigins === '*' ? '*' : config.http.corsOrigins }),
      express.json({ limit: config.limits.httpBodyBytes }),
      ...(trustedDocuments ? [trustedDocumentsMiddleware(trustedDocuments)] : []),
      ...(config.persistedQueries.mode === 'apq' ? [apqDocumentSizeLimit(config.persistedQueries.maxBytes)] : []),
      expressMiddleware(apollo, {
        context: async ({ req, res }) => {
          const requestId = requestIdFrom(req.headers['x-request-id']);
          res.setHeader('x-request-id', requestId);
          try {
            const viewer = await authenticate(services, req.headers.authorization);
            return createContext(services, { viewer, requestId, clientIp: clientAddress(req) });
          } catch (error) {
            if (error instanceof InvalidTokenError) throw new UnauthenticatedError(error.message, 401);
            throw error;
          }
        },
      }),
    );
    expressApp.use(bodyErrorHandler, createLastErrorHandler(logger));

    let url = '';
    return {
      get url() {
        return url;
      },
      instanceId,
      services,
      bus,
      start: async () => {
        await new Promise<void>((resolve, reject) => {
          httpServer.once('error', reject);
          httpServer.listen(config.port, config.host, () => {
            httpServer.off('error', reject);
            resolve();
          });
        });
        const { port } = httpServer.address() as AddressInfo;
        const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
        url = `http://${host}:${port}/graphql`;
        logger.info(
          {
            url,
            instanceId,
            database: database.embedded ? 'embedded' : 'external',
            bus: config.redis.url ? 'redis' : 'in-process',
            mode: config.redis.url ? 'cluster' : 'single-instance',
          },
          `Parley listening on ${url} (${config.redis.url ? 'cluster mode: PostgreSQL + Redis' : 'single-instance mode: in-process pub/sub'})`,
        );
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Compares secrets in constant time (lengths aside). */
function sameSecret(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Keeps a caller's request id when it looks like one (for tracing across services), else makes one. */
function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{8,128}$/.test(header) ? header : randomUUID();
}
