import type { Tracing } from './observability/tracing';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Sql } from './database/sql';
import type { Config } from './config';
import { createLoaders, type Loaders } from './loaders';
import type { JobQueue } from './jobs/queue';
import type { WebhookDispatcher } from './webhooks/dispatcher';
import type { ClusterMetrics } from './subscriptions/metrics-stream';
import type { Logger } from './observability/logger';
import type { Metrics } from './observability/metrics';
import type { ActiveAccounts } from './security/active-accounts';
import type { LiveSessions } from './security/live-sessions';
import type { TokenService } from './security/jwt';
import type { ExternalTokens } from './security/external-identity';
import type { Viewer } from './security/viewer';
import type { CursorCodec } from './pagination/cursor';
import type { PresenceStore } from './subscriptions/presence';
import type { EventBus } from './events/bus';
import type { StringTable } from './events/strings';
import type { QueueBound } from './subscriptions/event-queue';


/** Long-lived collaborators the composition root hands to every request. */
export interface Services {
  config: Config;
  dataSource: DataSource;
  /** Lean reads for answers (database/sql.ts): plain rows, no TypeORM in between. */
  sql: Sql;
  bus: EventBus;
  jobs: JobQueue;
  /** Sends outbound webhooks; null on an instance that runs no jobs (JOBS_ENABLED=false). */
  webhooks: WebhookDispatcher | null;
  metrics: Metrics;
  clusterMetrics: ClusterMetrics;
  tokens: TokenService;
  /** Tokens of the external identity provider, when AUTH_JWKS_URL is set. */
  externalTokens?: ExternalTokens;
  accounts: ActiveAccounts;
  /** Whether an own-account session is still signed in (signOut, a reused refresh token). */
  sessions: LiveSessions;
  presence: PresenceStore;
  cursors: CursorCodec;
  /** Shares one copy of strings that many subscriptions hold. */
  strings: StringTable;
  logger: Logger;
  /** OpenTelemetry spans; off (a no-op) unless OTEL_* asks for them. */
  tracing: Tracing;
}

export interface Context {
  readonly requestId: string;
  readonly viewer: Viewer | null;
  /** The client's address (X-Forwarded-For only as far as TRUST_PROXY allows); rate limits count anonymous calls by it. */
  readonly clientIp: string;
  /** Fresh for every event a subscription delivers (see `eventContext`). */
  readonly loaders: Loaders;
  readonly services: Services;
  readonly logger: Logger;
  /** How a subscription's event queue is bounded (WebSocket operations only; see EventQueue). */
  readonly queueBound?: QueueBound;
}

export interface Caller {
  viewer: Viewer | null;
  clientIp: string;
  requestId?: string;
  queueBound?: QueueBound;
}

/**
 * Loaders and the request's logger are made on first use: a WebSocket subscription keeps its
 * context for its whole life, and ten thousand idle subscribers should not each hold ten loaders.
 */
class RequestContext implements Context {
  private ownLoaders: Loaders | undefined;
  private ownLogger: Logger | undefined;

  constructor(
    readonly services: Services,
    readonly viewer: Viewer | null,
    readonly clientIp: string,
    readonly requestId: string,
    readonly queueBound: QueueBound | undefined,
  ) {}

  get loaders(): Loaders {
    return (this.ownLoaders ??= createLoaders(this.services, this.viewer?.id ?? null));
  }

  get logger(): Logger {
    return (this.ownLogger ??= this.services.logger.child({ requestId: this.requestId, viewerId: this.viewer?.id }));
  }
}

export function createContext(services: Services, { viewer, clientIp, requestId = randomUUID(), queueBound }: Caller): Context {
  return new RequestContext(services, viewer, clientIp, requestId, queueBound);
}

/**
 * The context one event of a subscription is resolved in: the subscription's caller, with loaders
 * of its own. graphql-ws keeps one context for a subscription's whole life, and a loader's cache
 * would serve every later event the rows it saw first; shared execution (subscriptions/
 * shared-execution.ts) resolves every event in one of these, so no resolver has to remember to.
 */
export function eventContext(context: Context): Context {
  return new RequestContext(context.services, context.viewer, context.clientIp, context.requestId, context.queueBound);
}
