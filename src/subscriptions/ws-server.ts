import type { IncomingMessage, Server } from 'node:http';
import type { GraphQLError, GraphQLFormattedError, GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import { createContext, type Services, type Viewer } from '../context';
import type { Logger } from '../observability/logger';
import { viewerFromAuthorization } from '../security/auth';
import { InvalidTokenError } from '../security/jwt';
import type { TrustedDocuments } from '../security/persisted-queries';
import { createWsAdmission, type SubscribeBudget } from '../security/ws-admission';
import { announceOffline, announceOnline } from '../services/online-status';

export interface WsServerOptions {
  httpServer: Server;
  /** Same path as HTTP GraphQL, so one URL serves both. */
  path: string;
  schema: GraphQLSchema;
  services: Services;
  logger: Logger;
  /** The HTTP side's formatter, so both transports mask and shape errors alike. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** The HTTP side's query limits and introspection rule. */
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
  /** Trusted mode: only these operations run. */
  trustedDocuments?: TrustedDocuments;
  /** The client's address for one upgrade request (TRUST_PROXY applies). */
  clientAddress: (request: IncomingMessage) => string;
}

interface SocketState {
  viewer: Viewer | null;
  clientIp: string;
  subscribes: SubscribeBudget;
  /** True once this socket was counted in presence; then, and only then, its close uncounts it. */
  counted: boolean;
  /** Closes the socket with 4403 when the viewer's token expires. */
  expiry?: NodeJS.Timeout;
}

/** setTimeout's longest delay (about 24.8 days); a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * graphql-ws on the HTTP server's upgrade path. `connection_init` may carry
 * `{ authorization: "Bearer <jwt>" }`; a bad or expired token closes the socket with 4403, and so
 * does the token expiring while the socket is open (the client reconnects with a fresh one).
 * Sockets are pinged every WS_KEEPALIVE; one that misses a pong is dropped, so a vanished client
 * goes offline. `dispose()` closes every socket with 1001 (going away), stops accepting upgrades,
 * and waits for the close handlers (presence, last seen) before the stores they write to close.
 */
export function attachWsServer(options: WsServerOptions) {
  const { httpServer, path, schema, services, logger, formatError, clientAddress } = options;
  const { limits } = services.config;
  const wsServer = new WebSocketServer({ server: httpServer, path, maxPayload: limits.wsPayloadBytes });
  const admit = createWsAdmission({ ...options, production: services.config.env === 'production', subscriptionsPerSocket: limits.subscriptionsPerSocket, subscribesPerSecond: limits.subscribesPerSecond });
  const log = logger.child({ component: 'ws' });
  const format = (errors: readonly GraphQLError[]) => errors.map((e) => formatError(e.toJSON(), e));
  const closing = new Set<Promise<void>>();

  const uncount = async (viewer: Viewer) => {
    try {
      if (await services.presence.disconnected(viewer.id)) await announceOffline(services, [viewer.id]);
    } catch (error) {
      log.warn({ err: error, userId: viewer.id }, 'could not record presence on disconnect');
    }
  };

  const closeOnExpiry = (socket: WebSocket, state: SocketState, expiresAt: number) => {
    const delay = expiresAt - Date.now();
    state.expiry = setTimeout(
      () => (delay > MAX_TIMER_MS ? closeOnExpiry(socket, state, expiresAt) : socket.close(CloseCode.Forbidden, 'Token expired')),
      Math.min(Math.max(delay, 0), MAX_TIMER_MS),
    );
    state.expiry.unref();
  };

  const server = useServer<Record<string, unknown> | undefined, { state: SocketState }>(
    {
      schema,
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      onConnect: async (ctx) => {
        let viewer: Viewer | null;
        try {
          viewer = await viewerFromAuthorization(services.tokens, ctx.connectionParams?.authorization);
        } catch (error) {
          if (!(error instanceof InvalidTokenError)) throw error;
          log.debug({ err: error }, 'refused connection_init');
          return false;
        }
        const state: SocketState = { viewer, clientIp: clientAddress(ctx.extra.request), subscribes: { windowStart: 0, used: 0 }, counted: false };
        ctx.extra.state = state;
        // The socket may have closed while the token was checked; onClose has then run already and
        // would never uncount it.
        if (!viewer || ctx.extra.socket.readyState !== WebSocket.OPEN) return true;
        if (viewer.tokenExpiresAt) closeOnExpiry(ctx.extra.socket, state, viewer.tokenExpiresAt);
        state.counted = true;
        // Presence is best effort: a Redis hiccup must not refuse the connection (the heartbeat re-announces it).
        services.presence.connected(viewer.id).then(
          (cameOnline) => cameOnline && state.counted && announceOnline(services, viewer.id),
          (error: unknown) => log.warn({ err: error, userId: viewer.id }, 'could not record presence on connect'),
        );
        return true;
      },
      // onClose runs for every socket, acknowledged or not (onDisconnect does not).
      onClose: (ctx) => {
        const state = ctx.extra.state;
        clearTimeout(state?.expiry);
        if (!state?.counted || !state.viewer) return;
        state.counted = false;
        const done = uncount(state.viewer).finally(() => closing.delete(done));
        closing.add(done);
      },
      onSubscribe: (ctx, _id, payload) => {
        const admission = admit(payload, Object.keys(ctx.subscriptions).length, ctx.extra.state!.subscribes);
        if ('errors' in admission) return admission.errors;
        const { document, payload: admitted } = admission;
        return { schema, document, operationName: admitted.operationName, variableValues: admitted.variables };
      },
      context: (ctx) => createContext(services, { viewer: ctx.extra.state?.viewer ?? null, clientIp: ctx.extra.state?.clientIp ?? '' }),
      onError: (_ctx, _id, _payload, errors) => format(errors),
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: format(result.errors) } : undefined),
    },
    wsServer,
    services.config.realtime.wsKeepAliveMs,
  );

  return {
    dispose: async () => {
      await server.dispose();
      // graphql-ws calls onClose a few ticks after the socket reports closed: let those run first.
      await new Promise((resolve) => setImmediate(resolve));
      while (closing.size > 0) await Promise.all([...closing]);
    },
  };
}
