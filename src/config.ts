import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { bool, corsOrigins, duration, identifier, port, positiveInt, postgresUrl, rate, rateLimitOverrides, redisClusterNodes, redisUrl, trustProxy, wholeNumber } from './config-values';

export type NodeEnv = 'development' | 'production' | 'test';
export type PersistedQueryMode = 'off' | 'apq' | 'trusted';

/** Everything Parley reads from its environment, parsed and validated once at start-up. */
export interface Config {
  env: NodeEnv;
  /** TCP port of the HTTP + WebSocket server; 0 picks a free one. Default 4000. */
  port: number;
  /** Interface to listen on. Default `0.0.0.0`. */
  host: string;
  database: {
    /** Primary PostgreSQL. Absent → an embedded PostgreSQL is started under `embedded.dataDir`. */
    url: string | undefined;
    /** Read replicas; SELECTs outside transactions are spread over them. */
    readUrls: string[];
    /** Connections per pool (primary, and each replica). */
    poolMax: number;
    /**
     * How long a statement waits for a pooled connection (or for a new one to connect) before its
     * request is refused with SERVICE_UNAVAILABLE and retryAfterSeconds: overload is refused, not
     * queued for seconds.
     */
    poolQueueTimeoutMs: number;
    /** Hot reads as named prepared statements (off behind a pooler that cannot keep them, e.g. PgBouncer < 1.21 in transaction mode). */
    preparedStatements: boolean;
    /**
     * Connections go through PgBouncer in transaction mode: no session state. No `options` startup
     * parameter (PgBouncer refuses it), so the search_path comes from PgBouncer's database entry or
     * the role; and named prepared statements default to off.
     */
    pgbouncer: boolean;
    /** PostgreSQL schema holding Parley's tables (tests give each file its own). */
    schema: string;
    /** Apply pending migrations at start-up. */
    migrationsRun: boolean;
    embedded: { dataDir: string; port: number };
  };
  redis: {
    /** One Redis node. With neither this nor `cluster`: single-instance mode (in-process pub/sub, counters and caches). */
    url: string | undefined;
    /**
     * A Redis Cluster (≥ 7): events over sharded pub/sub, one channel per conversation, and every
     * multi-key operation on hash-tagged keys. Exclusive with `url`.
     */
    cluster: { nodes: { host: string; port: number }[]; password: string | undefined } | undefined;
    /** Prefix of every Redis key and channel, so several deployments can share one Redis. */
    keyPrefix: string;
    /**
     * A command unanswered this long fails (ms), so a stalled Redis degrades requests (rate limits
     * count in memory, APQ misses, presence is local) instead of holding them.
     */
    commandTimeoutMs: number;
  };
  auth: {
    /** HS256 signing key. Secret. */
    jwtSecret: string;
    /** True when no JWT_SECRET was given and a random one was made (tokens die with the process). */
    jwtSecretGenerated: boolean;
    /** Lifetime of an issued access token, in seconds. */
    jwtTtlSeconds: number;
    /** How long a session lasts without a refresh (each refresh starts it again), in ms. */
    refreshTtlMs: number;
    /** Own password accounts (signUp, signIn, Parley's HS256 tokens); off: only the external issuer's tokens. */
    passwords: boolean;
    /** Tokens of an external identity provider (OIDC), verified against its JWKS; absent unless AUTH_JWKS_URL is set. */
    external?: ExternalAuthConfig;
  };
  realtime: {
    /** Most stored events `conversationEvents(afterSeq)` replays (or backfills into a gap) before it sends ResyncRequired instead. */
    replayLimit: number;
    /** A TypingChanged(true) not refreshed within this many ms is followed by TypingChanged(false). */
    typingTimeoutMs: number;
    /** WebSocket ping interval, in ms; a socket that misses a pong for as long is dropped (and its user goes offline). */
    wsKeepAliveMs: number;
    /** How long a crashed instance's users stay online, in ms: the TTL of its presence heartbeat in Redis. */
    presenceTtlMs: number;
  };
  limits: {
    /** Longest message body, in characters after trimming. */
    messageMaxLength: number;
    /** Largest HTTP request body, in bytes (larger → 413). */
    httpBodyBytes: number;
    /** Largest WebSocket message, in bytes (larger → the socket is closed with 1009). */
    wsPayloadBytes: number;
    /** Query limits, the same on HTTP and WebSocket (over one → QUERY_TOO_COMPLEX). */
    query: { depth: number; aliases: number; cost: number; directives: number; tokens: number };
    /** Open WebSockets one user may hold across the cluster (one more is closed with 4429). */
    connectionsPerUser: number;
    /** Open WebSockets one client address (its /64 for IPv6) may hold across the cluster. */
    connectionsPerAddress: number;
    /** Active subscriptions one WebSocket may hold. */
    subscriptionsPerSocket: number;
    /** Subscribe messages one WebSocket may send per second. */
    subscribesPerSecond: number;
    /** How long a WebSocket may take to send connection_init, in ms (then it is closed with 4408). */
    connectionInitTimeoutMs: number;
    /**
     * Events one subscription may hold for a socket that is not taking its frames (a client that
     * stopped reading); one more closes the socket with 1013, and the client resumes with afterSeq.
     */
    wsMaxQueuedEvents: number;
  };
  rateLimits: {
    /** Enforce `@rateLimit` (turn off only for load tests). */
    enabled: boolean;
    /** Per-field replacements of the limits the schema declares, keyed `Type.field`. */
    overrides: Record<string, { max: number; windowMs: number }>;
  };
  persistedQueries: {
    /** `off`, `apq` (automatic persisted queries) or `trusted` (only the manifest's operations run). */
    mode: PersistedQueryMode;
    /** Apollo persisted-query manifest (JSON) served in `trusted` mode. */
    manifestPath: string;
    /** How long an APQ entry lives after it was registered, in seconds. */
    ttlSeconds: number;
    /** Longest document an APQ client may register, in bytes as sent (comments count). */
    maxBytes: number;
    /** Who may register APQ documents; others' documents run but are not stored. */
    register: 'anyone' | 'authenticated';
    /** APQ registrations one client address may make per window; beyond, documents run but are not stored. */
    registerRate: { max: number; windowMs: number };
  };
  jobs: {
    /** Run job workers and schedules here; false: an API-only instance, which still enqueues jobs. */
    enabled: boolean;
    /** PostgreSQL schema of pg-boss's tables (created at start-up). */
    schema: string;
    /** Attempts after the first before a job goes to its dead-letter queue. */
    retryLimit: number;
    /** Delay before the first retry, in seconds; each later one waits twice as long. */
    retryDelaySeconds: number;
    /**
     * A job still active after this many seconds is taken for lost — its instance died — and is
     * failed and retried elsewhere (pg-boss expiry). Jobs that may run longer declare their own.
     */
    timeoutSeconds: number;
    /** How often pg-boss looks for lost jobs and due retries, in seconds. */
    maintenanceIntervalSeconds: number;
  };
  webhooks: {
    /** HMAC-SHA256 key of `POST /webhooks/inbound`; unset: the endpoint is off. Secret. */
    inboundSecret: string | undefined;
    outbound: {
      /** Let endpoints target private, loopback and link-local addresses (tests; a closed network). */
      allowPrivateTargets: boolean;
      /** An attempt that has not answered within this long failed. */
      timeoutMs: number;
      /** Attempts before a delivery is dead (it then waits for `redeliver`). */
      maxAttempts: number;
      /** Wait before the first retry; each later one waits twice as long, at most an hour. */
      retryDelayMs: number;
      /** Attempts in flight per instance; one endpoint gets at most a quarter of them (at least one). */
      concurrency: number;
      /** How often an idle dispatcher looks for due deliveries. */
      pollIntervalMs: number;
      /** An endpoint whose every attempt failed for this long is disabled when its next delivery dies. */
      disableAfterMs: number;
      /** Delivered and dead deliveries are deleted after this many days. */
      retentionDays: number;
    };
  };
  retention: {
    /** Bodies of messages deleted longer ago than this are erased (days). */
    deletedMessageDays: number;
    /** Metric samples older than this are deleted (days). */
    metricsDays: number;
  };
  http: {
    /** How far to believe X-Forwarded-For for the client address: not at all, a hop count, or the proxies' addresses. */
    trustProxy: false | number | string[];
    /** Origins allowed to call the API from a browser; `*` for any. */
    corsOrigins: string[] | '*';
    /** Serve the live dashboard at /dashboard and the chat demo at /demo (built into dist/ui). */
    uiEnabled: boolean;
    /** When set, GET /metrics wants `Authorization: Bearer <this>`. Secret. */
    metricsToken: string | undefined;
    /** Serve /metrics without a token in production too (its port is reachable only by Prometheus). */
    metricsPublic: boolean;
    /** GraphQL requests in progress on one instance past which the next is refused at once with 503 (load shedding). */
    maxInFlight: number;
  };
  execution: {
    /** Compile queries and subscription events (graphql-jit); off: graphql-js executes everything (for debugging). */
    compiled: boolean;
    /** Compiled documents kept in memory, least recently used dropped first. */
    cacheSize: number;
  };
  log: { level: string; pretty: boolean };
  /**
   * OpenTelemetry traces, opt-in through the standard OTEL_* variables: off (undefined) unless an
   * OTLP endpoint is set. Exported over OTLP/HTTP, as JSON or protobuf.
   */
  tracing: TracingConfig | undefined;
  /** How long `stop()` waits for in-flight HTTP requests before closing them, in ms. */
  shutdownTimeoutMs: number;
}

export interface TracingConfig {
  /** Where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  url: string;
  protocol: 'http/json' | 'http/protobuf';
  /** OTEL_EXPORTER_OTLP_HEADERS (`key=value,…`): for a collector's API key. Secret. */
  headers: Record<string, string>;
  /** OTEL_SERVICE_NAME, default `parley`. */
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES (`key=value,…`, values percent-encoded). */
  resourceAttributes: Record<string, string>;
  /**
   * TRACING_TRUST_TRACEPARENT: whether a request's `traceparent` header makes its span a child of
   * the caller's (on by default outside production). Off, anyone on the internet could pick the
   * trace id and force sampling; the span then starts a trace of its own, linked to the caller's.
   */
  trustTraceparent: boolean;
}

/** The `iss` of the tokens Parley issues itself (security/jwt.ts); an external issuer must differ. */
export const OWN_ISSUER = 'parley';

export interface ExternalAuthConfig {
  /** Where the provider publishes its signing keys (a JSON Web Key Set). */
  jwksUrl: string;
  /** The `iss` its tokens carry; a token with this issuer is verified against the JWKS, never the own secret. */
  issuer: string;
  /** The `aud` its tokens must carry (Parley's client or API id at the provider). */
  audience: string;
  /** The claim a new user's handle is derived from. */
  handleClaim: string;
  /** How long a fetch of the JWKS may take before a token needing it is refused with SERVICE_UNAVAILABLE, ms. */
  jwksTimeoutMs: number;
  /** The JWKS is fetched again for an unknown `kid` at most this often, ms (a flood of made-up kids cannot hammer it). */
  jwksCooldownMs: number;
  /** Known keys are refreshed in the background this often, ms (a key the provider withdrew stops working). */
  jwksMaxAgeMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Reads and validates the environment. Collects every problem before failing, so one start-up
 * shows them all; each problem names the variable and the value it was given.
 */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  function read<T>(name: string, schema: z.ZodType<T>, fallback: T): T {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const secret = /SECRET|PASSWORD|TOKEN/.test(name);
    problems.push(`${name} ${parsed.error.issues[0].message}, got ${secret ? '(hidden)' : JSON.stringify(raw)}`);
    return fallback;
  }

  const nodeEnv = read('NODE_ENV', z.enum(['development', 'production', 'test'], 'must be development, production or test'), 'development' as NodeEnv);
  const production = nodeEnv === 'production';
  const redisClusterNodesSet = Boolean(env.REDIS_CLUSTER_NODES);
  if (redisClusterNodesSet && env.REDIS_URL) problems.push('REDIS_URL and REDIS_CLUSTER_NODES are exclusive: set one');
  if (!redisClusterNodesSet && env.REDIS_CLUSTER_PASSWORD) problems.push('REDIS_CLUSTER_PASSWORD needs REDIS_CLUSTER_NODES');
  const pgbouncer = read('DATABASE_PGBOUNCER', z.enum(['on', 'off'], 'must be on or off'), 'off') === 'on';

  let jwtSecret = read('JWT_SECRET', z.string().min(32, 'must be at least 32 characters'), '');
  const jwtSecretGenerated = jwtSecret === '';
  if (jwtSecretGenerated) {
    if (production) problems.push('JWT_SECRET is required when NODE_ENV=production');
    jwtSecret = randomBytes(32).toString('base64url');
  }

  function externalAuth(): ExternalAuthConfig | undefined {
    const jwksUrl = read('AUTH_JWKS_URL', z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }), '');
    const issuer = read('AUTH_ISSUER', z.string().min(1), '');
    const audience = read('AUTH_AUDIENCE', z.string().min(1), '');
    if (!jwksUrl) {
      if (issuer || audience) problems.push('AUTH_ISSUER and AUTH_AUDIENCE need AUTH_JWKS_URL');
      return undefined;
    }
    if (!issuer || !audience) problems.push('AUTH_JWKS_URL needs AUTH_ISSUER and AUTH_AUDIENCE');
    if (production && !jwksUrl.startsWith('https:')) problems.push('AUTH_JWKS_URL must be https when NODE_ENV=production (the signing keys travel over it)');
    if (issuer === OWN_ISSUER) problems.push(`AUTH_ISSUER must not be ${JSON.stringify(OWN_ISSUER)}, the issuer of Parley's own tokens`);
    return {
      jwksUrl,
      issuer,
      audience,
      handleClaim: read('AUTH_HANDLE_CLAIM', z.string().min(1), 'preferred_username'),
      jwksTimeoutMs: read('AUTH_JWKS_TIMEOUT', duration, 2_000),
      jwksCooldownMs: read('AUTH_JWKS_COOLDOWN', duration, 30_000),
      jwksMaxAgeMs: read('AUTH_JWKS_MAX_AGE', duration, 600_000),
    };
  }

  const config: Config = {
    env: nodeEnv,
    port: read('PORT', port, 4000),
    host: read('HOST', z.string().min(1), '0.0.0.0'),
    database: {
      url: read('DATABASE_URL', postgresUrl, undefined as string | undefined),
      readUrls: read(
        'DATABASE_READ_URLS',
        z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)).pipe(z.array(postgresUrl)),
        [] as string[],
      ),
      poolMax: read('DATABASE_POOL_MAX', positiveInt, 10),
      poolQueueTimeoutMs: read('DATABASE_POOL_QUEUE_TIMEOUT', duration, 500),
      preparedStatements: read('DATABASE_PREPARED_STATEMENTS', z.enum(['on', 'off'], 'must be on or off'), pgbouncer ? 'off' : 'on') === 'on',
      pgbouncer,
      schema: read('DATABASE_SCHEMA', identifier, 'public'),
      migrationsRun: read('MIGRATIONS_RUN', bool, true),
      embedded: {
        dataDir: path.resolve(read('EMBEDDED_PG_DIR', z.string().min(1), '.data/pg')),
        port: read('EMBEDDED_PG_PORT', port.refine((p) => p > 0, 'must be 1..65535'), 54329),
      },
    },
    redis: {
      url: read('REDIS_URL', redisUrl, undefined as string | undefined),
      cluster: redisClusterNodesSet
        ? { nodes: read('REDIS_CLUSTER_NODES', redisClusterNodes, []), password: read('REDIS_CLUSTER_PASSWORD', z.string().min(1), undefined as string | undefined) }
        : undefined,
      commandTimeoutMs: read('REDIS_COMMAND_TIMEOUT', duration, 1_000),
      keyPrefix: read('REDIS_KEY_PREFIX', z.string().regex(/^[\w:.-]*$/, 'must use only letters, digits, _ : . -'), 'parley:'),
    },
    auth: {
      jwtSecret,
      jwtSecretGenerated,
      jwtTtlSeconds: Math.floor(read('JWT_TTL', duration, 15 * 60_000) / 1000),
      refreshTtlMs: read('REFRESH_TOKEN_TTL', duration, 30 * 86_400_000),
      passwords: read('AUTH_PASSWORDS', z.enum(['on', 'off'], 'must be on or off'), 'on') === 'on',
      external: externalAuth(),
    },
    realtime: {
      replayLimit: read('REPLAY_LIMIT', positiveInt, 500),
      typingTimeoutMs: read('TYPING_TIMEOUT', duration, 5_000),
      wsKeepAliveMs: read('WS_KEEPALIVE', duration, 12_000),
      presenceTtlMs: read('PRESENCE_TTL', duration, 60_000),
    },
    limits: {
      messageMaxLength: read('MESSAGE_MAX_LENGTH', positiveInt, 4000),
      httpBodyBytes: read('HTTP_BODY_LIMIT', positiveInt, 102_400),
      wsPayloadBytes: read('WS_MAX_PAYLOAD', positiveInt, 102_400),
      query: {
        depth: read('QUERY_MAX_DEPTH', positiveInt, 12),
        aliases: read('QUERY_MAX_ALIASES', positiveInt, 30),
        cost: read('QUERY_MAX_COST', positiveInt, 10_000),
        directives: read('QUERY_MAX_DIRECTIVES', positiveInt, 20),
        tokens: read('QUERY_MAX_TOKENS', positiveInt, 2_000),
      },
      connectionsPerUser: read('WS_MAX_CONNECTIONS_PER_USER', positiveInt, 20),
      connectionsPerAddress: read('WS_MAX_CONNECTIONS_PER_ADDRESS', positiveInt, 200),
      subscriptionsPerSocket: read('WS_MAX_SUBSCRIPTIONS', positiveInt, 50),
      subscribesPerSecond: read('WS_SUBSCRIBE_RATE', positiveInt, 20),
      connectionInitTimeoutMs: read('WS_CONNECTION_INIT_TIMEOUT', duration, 3_000),
      wsMaxQueuedEvents: read('WS_MAX_QUEUED_EVENTS', positiveInt, 2_000),
    },
    rateLimits: {
      enabled: read('RATE_LIMITS', z.enum(['on', 'off'], 'must be on or off'), 'on') === 'on',
      overrides: read('RATE_LIMIT_OVERRIDES', rateLimitOverrides, {}),
    },
    persistedQueries: {
      mode: read('PERSISTED_QUERIES', z.enum(['off', 'apq', 'trusted'], 'must be off, apq or trusted'), production ? 'trusted' : 'apq'),
      manifestPath: path.resolve(read('PERSISTED_QUERY_MANIFEST', z.string().min(1), 'persisted-query-manifest.json')),
      ttlSeconds: Math.floor(read('PERSISTED_QUERY_TTL', duration, 86_400_000) / 1000),
      maxBytes: read('PERSISTED_QUERY_MAX_BYTES', positiveInt, 20_480),
      register: read('PERSISTED_QUERIES_REGISTER', z.enum(['anyone', 'authenticated'], 'must be anyone or authenticated'), 'anyone'),
      registerRate: read('PERSISTED_QUERY_REGISTER_RATE', rate, { max: 30, windowMs: 60_000 }),
    },
    jobs: {
      enabled: read('JOBS_ENABLED', bool, true),
      schema: read('JOBS_SCHEMA', identifier, 'pgboss'),
      retryLimit: read('JOB_RETRY_LIMIT', wholeNumber, 5),
      retryDelaySeconds: Math.max(1, Math.round(read('JOB_RETRY_DELAY', duration, 5_000) / 1000)),
      timeoutSeconds: Math.max(1, Math.round(read('JOB_TIMEOUT', duration, 120_000) / 1000)),
      maintenanceIntervalSeconds: Math.max(1, Math.round(read('JOB_MAINTENANCE_INTERVAL', duration, 30_000) / 1000)),
    },
    webhooks: {
      inboundSecret: read('INBOUND_WEBHOOK_SECRET', z.string().min(16, 'must be at least 16 characters'), undefined as string | undefined),
      outbound: {
        allowPrivateTargets: read('WEBHOOK_ALLOW_PRIVATE_TARGETS', bool, false),
        timeoutMs: read('WEBHOOK_TIMEOUT', duration, 10_000),
        maxAttempts: read('WEBHOOK_MAX_ATTEMPTS', positiveInt, 8),
        retryDelayMs: read('WEBHOOK_RETRY_DELAY', duration, 5_000),
        concurrency: read('WEBHOOK_CONCURRENCY', positiveInt, 16),
        pollIntervalMs: read('WEBHOOK_POLL_INTERVAL', duration, 500),
        disableAfterMs: read('WEBHOOK_DISABLE_AFTER', duration, 24 * 60 * 60_000),
        retentionDays: read('WEBHOOK_DELIVERY_RETENTION_DAYS', positiveInt, 7),
      },
    },
    retention: {
      deletedMessageDays: read('RETENTION_DELETED_DAYS', positiveInt, 30),
      metricsDays: read('RETENTION_METRICS_DAYS', positiveInt, 90),
    },
    http: {
      trustProxy: read('TRUST_PROXY', trustProxy, false),
      corsOrigins: read('CORS_ORIGINS', corsOrigins, production ? [] : '*'),
      uiEnabled: read('UI_ENABLED', bool, true),
      metricsToken: read('METRICS_TOKEN', z.string().min(16, 'must be at least 16 characters'), undefined as string | undefined),
      metricsPublic: read('METRICS_PUBLIC', bool, false),
      maxInFlight: read('HTTP_MAX_IN_FLIGHT', positiveInt, 128),
    },
    execution: {
      compiled: read('COMPILED_EXECUTION', z.enum(['on', 'off'], 'must be on or off'), 'on') === 'on',
      cacheSize: read('COMPILED_EXECUTION_CACHE', positiveInt, 1_000),
    },
    log: {
      level: read('LOG_LEVEL', z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`), nodeEnv === 'test' ? 'silent' : 'info'),
      pretty: read('LOG_PRETTY', bool, nodeEnv === 'development'),
    },
    shutdownTimeoutMs: read('SHUTDOWN_TIMEOUT', duration, 10_000),
    tracing: readTracing(env, problems, read('TRACING_TRUST_TRACEPARENT', bool, nodeEnv !== 'production')),
  };
  if (config.database.readUrls.length > 0 && !config.database.url) {
    problems.push('DATABASE_READ_URLS needs DATABASE_URL: replicas of the embedded database are not supported');
  }
  if (config.persistedQueries.mode === 'trusted' && !existsSync(config.persistedQueries.manifestPath)) {
    problems.push(
      `PERSISTED_QUERIES=trusted${env.PERSISTED_QUERIES ? '' : ' (the production default)'} needs a manifest, and PERSISTED_QUERY_MANIFEST names ${JSON.stringify(config.persistedQueries.manifestPath)}, which does not exist: run \`npm run manifest\`, or set PERSISTED_QUERIES=apq or off`,
    );
  }
  // A replay is queued whole before the client takes it: the bound must leave room for one.
  if (config.limits.wsMaxQueuedEvents <= config.realtime.replayLimit) {
    problems.push(`WS_MAX_QUEUED_EVENTS must be more than REPLAY_LIMIT (${config.realtime.replayLimit}), got ${config.limits.wsMaxQueuedEvents}`);
  }
  // /metrics names operations and counts connections, refusals and dead letters: not for anyone.
  if (production && !config.http.metricsToken && !config.http.metricsPublic) {
    problems.push('METRICS_TOKEN is required when NODE_ENV=production (Prometheus sends it as a bearer token); set METRICS_PUBLIC=true instead only if nothing but Prometheus can reach the port');
  }
  if (!config.auth.passwords && !config.auth.external) problems.push('AUTH_PASSWORDS=off needs AUTH_JWKS_URL: no one could sign in');
  if (config.auth.jwtTtlSeconds < 1) problems.push(`JWT_TTL must be at least 1s, got ${JSON.stringify(env.JWT_TTL)}`);
  if (config.auth.refreshTtlMs < config.auth.jwtTtlSeconds * 1000) problems.push(`REFRESH_TOKEN_TTL must be at least JWT_TTL, got ${JSON.stringify(env.REFRESH_TOKEN_TTL)}`);
  // Migrations hold one connection for their lock while they run on another.
  if (config.database.migrationsRun && config.database.poolMax < 2) problems.push('DATABASE_POOL_MAX must be at least 2 when MIGRATIONS_RUN is on (the migration lock holds one connection while migrations use another)');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** `key=value,key=value` (W3C baggage-like, as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS take it), values percent-decoded. */
function keyValues(raw: string | undefined): Record<string, string> | null {
  const pairs: Record<string, string> = {};
  for (const item of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const at = item.indexOf('=');
    if (at <= 0) return null;
    try {
      pairs[item.slice(0, at).trim()] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      return null;
    }
  }
  return pairs;
}

/** The OTEL_* variables Parley honours; tracing stays off unless an endpoint is set and the SDK is not disabled. */
function readTracing(env: Env, problems: string[], trustTraceparent: boolean): TracingConfig | undefined {
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!tracesEndpoint && !endpoint) return undefined;
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const url = tracesEndpoint || `${endpoint!.replace(/\/+$/, '')}/v1/traces`;
  if (!/^https?:\/\/\S+$/.test(url)) problems.push(`OTEL_EXPORTER_OTLP${tracesEndpoint ? '_TRACES' : ''}_ENDPOINT must be an http(s) URL, got ${JSON.stringify(tracesEndpoint || endpoint)}`);
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf';
  if (protocol !== 'http/json' && protocol !== 'http/protobuf') problems.push(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/json or http/protobuf (grpc is not supported), got ${JSON.stringify(protocol)}`);
  const headers = keyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS || env.OTEL_EXPORTER_OTLP_HEADERS);
  if (!headers) problems.push('OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas, got (hidden)');
  const resourceAttributes = keyValues(env.OTEL_RESOURCE_ATTRIBUTES);
  if (!resourceAttributes) problems.push(`OTEL_RESOURCE_ATTRIBUTES must be key=value pairs separated by commas, got ${JSON.stringify(env.OTEL_RESOURCE_ATTRIBUTES)}`);
  return {
    url,
    protocol: protocol === 'http/json' ? 'http/json' : 'http/protobuf',
    headers: headers ?? {},
    serviceName: env.OTEL_SERVICE_NAME || resourceAttributes?.['service.name'] || 'parley',
    resourceAttributes: resourceAttributes ?? {},
    trustTraceparent,
  };
}
