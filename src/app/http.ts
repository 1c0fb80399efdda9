import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type Express } from 'express';
import type { Config } from '../config';
import { createContext, type Context } from '../context';
import { ServiceUnavailableError, UnauthenticatedError } from '../errors';
import { SpanKind } from '@opentelemetry/api';
import { createHealthRouter } from '../observability/health';
import { routeOf } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import { apqDocumentSizeLimit, apqRegistrationPlugin } from '../security/apq-registration';
import { authenticate } from '../security/auth';
import { bodyErrorHandler, createLastErrorHandler, ERROR_CODES } from '../security/http-errors';
import { inFlightLimit } from '../security/in-flight-limit';
import { InvalidTokenError } from '../security/jwt';
import { JwksUnavailableError } from '../security/jwks';
import { operationGuards } from '../security/operation-guards.plugin';
import { trustedDocumentsMiddleware } from '../security/persisted-queries';
import { queryCostPlugin } from '../security/query-cost.plugin';
import { sameSecret } from '../secrets';
import { createUiRouter } from '../ui/static';
import { createInboundWebhookRouter } from '../webhooks/inbound';
import type { Backends } from './backends';
import { createErrorLoggingPlugin } from './error-logging.plugin';
import { executionGateway, type GraphqlRules } from './graphql';
import type { Lifecycle } from './lifecycle';
import { createMetricsPlugin } from './metrics.plugin';
import { createTracingPlugin } from './tracing.plugin';

export interface HttpOptions {
  config: Config;
  logger: Logger;
  instanceId: string;
  backends: Backends;
  graphql: GraphqlRules;
  clientAddress: (request: IncomingMessage) => string;
}

/**
 * The HTTP side: Apollo Server 5 behind Express on a Node HTTP server (which the WebSocket server
 * shares), with the health, metrics, demo and webhook routes beside `/graphql`.
 */
export async function createHttpApp(options: HttpOptions, lifecycle: Lifecycle): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestRecord(options));
  const server = createServer(app);
  const apollo = await startApollo(options, server);
  lifecycle.add('http', () => apollo.stop());
  mountRoutes(app, options, lifecycle, apollo);
  return server;
}

async function startApollo({ config, backends, graphql }: HttpOptions, server: Server): Promise<ApolloServer<Context>> {
  const production = config.env === 'production';
  const apq = config.persistedQueries.mode === 'apq';
  const apollo = new ApolloServer<Context>({
    // Apollo parses, validates, runs the plugins and formats errors; the executor runs the operation.
    gateway: executionGateway(graphql),
    formatError: graphql.formatError,
    validationRules: graphql.validationRules,
    parseOptions: graphql.parseOptions,
    includeStacktraceInErrorResponses: !production,
    introspection: !production,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    persistedQueries: apq ? { cache: backends.apqCache, ttl: config.persistedQueries.ttlSeconds } : false,
    // main.ts owns signals: Apollo's own handler would stop the server out of order and re-raise.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: server, stopGracePeriodMillis: config.shutdownTimeoutMs }),
      createErrorLoggingPlugin(),
      operationGuards(),
      queryCostPlugin(graphql.queryCost),
      ...(apq ? [apqRegistrationPlugin({ register: config.persistedQueries.register, rate: config.persistedQueries.registerRate, limiter: backends.rateLimiter })] : []),
      createMetricsPlugin(backends.services.metrics),
      ...(backends.services.tracing.enabled ? [createTracingPlugin(backends.services.tracing)] : []),
      // Parley sets no cache hints (every answer is private); Apollo's default cache-control plugin
      // would still wrap every field resolver of every request to look for them.
      ApolloServerPluginCacheControlDisabled(),
      production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
    ],
  });
  await apollo.start();
  return apollo;
}

function mountRoutes(app: Express, { config, logger, backends, graphql, clientAddress }: HttpOptions, lifecycle: Lifecycle, apollo: ApolloServer<Context>): void {
  const { services } = backends;
  app.use(createHealthRouter({ checks: backends.readiness, isShuttingDown: () => lifecycle.shuttingDown }));
  app.get('/metrics', async (req, res) => {
    if (config.http.metricsToken && !sameSecret(req.headers.authorization ?? '', `Bearer ${config.http.metricsToken}`)) {
      res.status(401).setHeader('www-authenticate', 'Bearer').type('text').send('GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.');
      return;
    }
    res.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics());
  });
  if (config.http.uiEnabled) app.use(createUiRouter(logger));
  if (config.webhooks.inboundSecret) {
    const { inboundSecret: secret } = config.webhooks;
    app.use(createInboundWebhookRouter({ secret, queue: services.jobs, dataSource: services.dataSource, logger, bodyLimit: config.limits.httpBodyBytes, messageMaxLength: config.limits.messageMaxLength }));
  }
  app.use(
    '/graphql',
    cors({ origin: config.http.corsOrigins === '*' ? '*' : config.http.corsOrigins }),
    inFlightLimit(config.http.maxInFlight, () => services.metrics.requestShed()),
    express.json({ limit: config.limits.httpBodyBytes }),
    ...(graphql.trustedDocuments ? [trustedDocumentsMiddleware(graphql.trustedDocuments)] : []),
    ...(config.persistedQueries.mode === 'apq' ? [apqDocumentSizeLimit(config.persistedQueries.maxBytes)] : []),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = res.locals.requestId as string;
        try {
          return createContext(services, { viewer: await authenticate(services, req.headers.authorization), requestId, clientIp: clientAddress(req) });
        } catch (error) {
          if (error instanceof InvalidTokenError) throw new UnauthenticatedError(error.message, 401);
          if (error instanceof JwksUnavailableError) throw new ServiceUnavailableError(error.message, 503);
          throw error;
        }
      },
    }),
  );
  app.use(bodyErrorHandler, createLastErrorHandler(logger));
}

/**
 * Every request: which instance answered (behind a load balancer) and its request id as headers,
 * then, once it is over, its latency in `parley_http_request_duration_seconds` and one log line
 * (`debug` for probes and scrapes, `info` for the rest). A request the client gave up on counts as
 * status 499, as nginx logs it.
 */
function requestRecord({ config, instanceId, logger, backends }: HttpOptions): express.RequestHandler {
  const { metrics, tracing } = backends.services;
  const log = logger.child({ component: 'http' });
  return (req, res, next) => {
    const startedAt = performance.now();
    // Read now: a router mounted at /graphql rewrites req.url while it runs.
    const path = req.path;
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.locals.requestId = requestId;
    res.setHeader('x-parley-instance', instanceId);
    res.setHeader('x-request-id', requestId);
    const route = routeOf(path);
    // The request's span, joining the caller's trace when it sent a traceparent; everything the
    // request does runs inside it.
    const header = req.headers.traceparent;
    const traceparent = typeof header === 'string' ? header : undefined;
    const trusted = config.tracing?.trustTraceparent ?? false;
    const span = tracing.start(
      `${methodOf(req.method)} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': route, 'parley.request_id': requestId }, ...(trusted ? {} : { linkTo: traceparent }) },
      trusted ? traceparent : undefined,
    );
    res.once('close', () => {
      const ms = performance.now() - startedAt;
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.httpRequest(methodOf(req.method), route, status, ms / 1000);
      for (const code of (res.locals[ERROR_CODES] as string[] | undefined) ?? []) metrics.errorSent(code);
      if (span) {
        span.span.setAttribute('http.response.status_code', status);
        span.end(status >= 500 ? new Error(`HTTP ${status}`) : undefined);
      }
      const level = route === '/graphql' || route === '/webhooks/inbound' || route === 'other' ? 'info' : 'debug';
      if (!log.isLevelEnabled(level)) return;
      const named = (req.body as { operationName?: unknown } | undefined)?.operationName ?? req.query.operationName;
      log[level](
        { requestId, method: req.method, path: path.slice(0, 200), status, ms: Math.round(ms * 10) / 10, operation: typeof named === 'string' ? named.slice(0, 100) : undefined },
        'request',
      );
    });
    if (span) span.run(next);
    else next();
  };
}

/** The methods HTTP metrics name; the others (llhttp parses some thirty) count as `other`. */
const METHODS = new Set(['GET', 'POST', 'OPTIONS', 'HEAD']);
const methodOf = (method: string) => (METHODS.has(method) ? method : 'other');

/** Keeps a caller's request id when it looks like one (for tracing across services), else makes one. */
function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{8,128}$/.test(header) ? header : randomUUID();
}
