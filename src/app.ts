import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Config } from './config';
import type { Services } from './context';
import type { EventBus } from './events/bus';
import { createLogger, type Logger } from './observability/logger';
import { createClientAddress } from './security/client-address';
import { openBackends } from './app/backends';
import { prepareGraphql } from './app/graphql';
import { createHttpApp } from './app/http';
import { createLifecycle } from './app/lifecycle';
import { attachWebSocket } from './app/websocket';

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
  /** Sees each round trip of the lean reads and writes (`Sql`): the statements it carried; tests and the bench count them. */
  onRoundTrip?: (statements: string[]) => void;
}

/**
 * The composition root, and the only place that starts anything (src/app/ holds its parts): the
 * backends (database, bus, Redis-backed stores, jobs), the GraphQL schema and rules, the HTTP app,
 * the WebSocket server. If any step fails, what was already started is stopped before the error
 * propagates.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config);
  const instanceId = randomUUID();
  const lifecycle = createLifecycle(logger);
  try {
    if (config.auth.jwtSecretGenerated) logger.warn('JWT_SECRET is not set: using a random secret, so tokens stop working when this process exits');
    const backends = await openBackends({ config, logger, instanceId, onQuery: options.onQuery, onRoundTrip: options.onRoundTrip }, lifecycle);
    const graphql = await prepareGraphql(config, backends);
    const clientAddress = createClientAddress(config.http.trustProxy);
    const parts = { config, logger, instanceId, backends, graphql, clientAddress };
    const server = await createHttpApp(parts, lifecycle);
    await attachWebSocket(parts, server, lifecycle);

    let url = '';
    return {
      get url() {
        return url;
      },
      instanceId,
      services: backends.services,
      bus: backends.services.bus,
      async start() {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(config.port, config.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        const { port } = server.address() as AddressInfo;
        const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
        url = `http://${host}:${port}/graphql`;
        const redis = config.redis.cluster ? 'redis-cluster' : config.redis.url ? 'redis' : null;
        const mode = redis ? `cluster mode: PostgreSQL + ${redis === 'redis' ? 'Redis' : 'Redis Cluster'}` : 'single-instance mode: in-process pub/sub';
        logger.info(
          { url, instanceId, database: backends.embedded ? 'embedded' : 'external', bus: redis ?? 'in-process', mode: redis ? 'cluster' : 'single-instance' },
          `Parley listening on ${url} (${mode})`,
        );
      },
      stop: () => lifecycle.stop(),
    };
  } catch (error) {
    await lifecycle.stop();
    throw error;
  }
}
