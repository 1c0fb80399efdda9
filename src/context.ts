import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Config } from './config';
import { createLoaders, type Loaders } from './loaders';
import type { JobQueue } from './jobs/queue';
import type { ClusterMetrics } from './observability/cluster-metrics';
import type { Logger } from './observability/logger';
import type { Metrics } from './observability/metrics';
import type { ActiveAccounts } from './security/active-accounts';
import type { TokenService } from './security/jwt';
import type { CursorCodec } from './pagination/cursor';
import type { PresenceStore } from './subscriptions/presence';
import type { EventBus } from './subscriptions/pubsub';
import type { QueueBound } from './subscriptions/event-queue';

/** The signed-in user, as far as the token says. Roles are loaded fresh when a check needs them. */
export interface Viewer {
  id: string;
  /** When the token that named this viewer expires (ms since the epoch); a WebSocket is closed then. */
  tokenExpiresAt?: number;
}

/** Long-lived collaborators the composition root hands to every request. */
export interface Services {
  config: Config;
  dataSource: DataSource;
  bus: EventBus;
  jobs: JobQueue;
  metrics: Metrics;
  clusterMetrics: ClusterMetrics;
  tokens: TokenService;
  accounts: ActiveAccounts;
  presence: PresenceStore;
  cursors: CursorCodec;
  logger: Logger;
}

export interface Context {
  readonly requestId: string;
  readonly viewer: Viewer | null;
  /** The client's address (X-Forwarded-For only as far as TRUST_PROXY allows); rate limits count anonymous calls by it. */
  readonly clientIp: string;
  /** Replaced for every event a subscription delivers (see `refreshLoaders`). */
  loaders: Loaders;
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

  set loaders(loaders: Loaders) {
    this.ownLoaders = loaders;
  }

  get logger(): Logger {
    return (this.ownLogger ??= this.services.logger.child({ requestId: this.requestId, viewerId: this.viewer?.id }));
  }
}

export function createContext(services: Services, { viewer, clientIp, requestId = randomUUID(), queueBound }: Caller): Context {
  return new RequestContext(services, viewer, clientIp, requestId, queueBound);
}

/**
 * graphql-ws keeps one context for the whole life of a subscription, and a loader's cache would
 * serve every later event the rows it saw first. Each subscription's root resolver calls this
 * before resolving an event; graphql-js resolves one event of a subscription at a time, so the
 * swap never changes loaders under a running resolution.
 */
export function refreshLoaders(context: Context): void {
  context.loaders = createLoaders(context.services, context.viewer?.id ?? null);
}
