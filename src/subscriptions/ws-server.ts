import type { IncomingMessage, Server } from 'node:http';
import { getOperationAST, type GraphQLError, type GraphQLFormattedError, type GraphQLSchema, type OperationTypeNode, type ParseOptions, type ValidationRule } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { WebSocket, WebSocketServer } from 'ws';
import { createContext, type Services, type Viewer } from '../context';
import type { Logger } from '../observability/logger';
import { authenticate } from '../security/auth';
import { InvalidTokenError } from '../security/jwt';
import type { TrustedDocuments } from '../security/persisted-queries';
import type { QueryCost } from '../security/query-cost';
import type { ConnectionLimits, ConnectionTicket } from '../security/connection-limits';
import { createWsAdmission, type SubscribeBudget } from '../security/ws-admission';
import { announceOffline, announceOnline } from '../services/online-status';
import { createSharedSubscribe, type FrameTransport } from './shared-execution';
import { Topic } from './topics';
import { internStrings } from './intern';
import { sendFrame, serveGraphqlWs } from './ws-transport';
import type { QueueBound } from './event-queue';

/** The close code of a socket dropped for not reading its frames (RFC 6455: try again later). */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;

export interface WsServerOptions {
  /** Sent as x-parley-instance on the upgrade response. */
  instanceId: string;
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
  /** The HTTP side's cost model and limit. */
  queryCost: QueryCost;
  parseOptions: ParseOptions;
  /** Trusted mode: only these operations run. */
  trustedDocuments?: TrustedDocuments;
  /** The client's address for one upgrade request (TRUST_PROXY applies). */
  clientAddress: (request: IncomingMessage) => string;
  /** Open sockets per user and per address, across the cluster. */
  connectionLimits: ConnectionLimits;
}

interface Operation {
  type: OperationTypeNode;
  name: string | null;
  /** Root field, the label of the active-subscriptions gauge. */
  field: string;
  startedAt: bigint;
  /** Counted in the active-subscriptions gauge until it completes. */
  live: boolean;
}

interface SocketState {
  viewer: Viewer | null;
  clientIp: string;
  subscribes: SubscribeBudget;
  operations: Map<string, Operation>;
  /** True once this socket was counted (presence, connections); then, and only then, its close uncounts it. */
  counted: boolean;
  /** Closes the socket with 4403 when the viewer's token expires. */
  expiry?: NodeJS.Timeout;
  /** The bound of every subscription queue of this socket (one object for all of them). */
  queueBound?: QueueBound;
  /** What this socket counts against the per-user and per-address caps, until given back. */
  ticket?: ConnectionTicket;
}

/** Where a shared subscription writes its frames: straight to its socket, as graphql-ws's own send does. */
class SocketFrames implements FrameTransport {
  constructor(
    private readonly socket: WebSocket,
    readonly id: string,
    readonly formatErrors: FrameTransport['formatErrors'],
  ) {}

  send(frame: string): Promise<void> {
    return sendFrame(this.socket, frame);
  }
}

/**
 * The `connection_init` payload: `authorization` (any case: `Authorization` from a header-minded
 * client is the same thing) and nothing else. Any other key is refused with a reason instead of
 * being ignored, so a client whose token is misplaced learns it rather than being let in
 * anonymously.
 */
function readConnectionParams(params: Readonly<Record<string, unknown>> | undefined): { authorization: unknown } | { refused: string } {
  let authorization: unknown;
  let seen = false;
  for (const [key, value] of Object.entries(params ?? {})) {
    if (key.toLowerCase() !== 'authorization') return { refused: `Unknown connection_init payload key ${JSON.stringify(key.slice(0, 40))}: send { authorization: "Bearer <token>" }` };
    if (seen) return { refused: 'The connection_init payload names authorization twice' };
    seen = true;
    authorization = value;
  }
  return { authorization };
}

/** setTimeout's longest delay (about 24.8 days); a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * graphql-ws on the HTTP server's upgrade path. `connection_init` may carry
 * `{ authorization: "Bearer <jwt>" }`; a bad or expired token, or one whose account was erased,
 * closes the socket with 4403, and so does the token expiring or the account being erased while
 * the socket is open (the client reconnects with a fresh token). Sockets are pinged every
 * WS_KEEPALIVE; one that misses a pong is dropped, so a vanished client goes offline. Every
 * operation passes the same admission as HTTP (ws-admission.ts); subscribers sharing a document
 * share each event's execution (shared-execution.ts). `dispose()` closes every socket
 * with 1001 (going away), stops accepting upgrades, and waits for the close handlers (presence,
 * last seen) before the stores they write to close.
 */
export async function attachWsServer(options: WsServerOptions) {
  const { httpServer, path, schema, services, logger, formatError, clientAddress, connectionLimits } = options;
  const { limits } = services.config;
  const { metrics } = services;
  const wsServer = new WebSocketServer({ server: httpServer, path, maxPayload: limits.wsPayloadBytes });
  wsServer.on('headers', (headers) => headers.push(`x-parley-instance: ${options.instanceId}`));
  const admit = createWsAdmission({
    ...options,
    production: services.config.env === 'production',
    subscriptionsPerSocket: limits.subscriptionsPerSocket,
    subscribesPerSecond: limits.subscribesPerSecond,
  });
  const log = logger.child({ component: 'ws' });
  const format = (errors: readonly GraphQLError[]) => errors.map((e) => formatError(e.toJSON(), e));
  const closing = new Set<Promise<void>>();
  const socketsOf = new Map<string, Set<WebSocket>>();
  /** Where a shared subscription writes its frames, by the operation's context (see shared-execution.ts). */
  const transports = new WeakMap<object, FrameTransport>();

  const stopWatchingAccounts = await services.bus.listen(Topic.accountClosed(), ({ userId }) => {
    for (const socket of socketsOf.get(userId) ?? []) socket.close(CloseCode.Forbidden, 'Account deleted');
  });

  const releaseTicket = (state: SocketState) => {
    if (state.ticket) connectionLimits.release(state.ticket);
    state.ticket = undefined;
  };

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

  /**
   * A client that stopped reading: its frames wait in the kernel, then its events in a queue per
   * subscription, until one queue passes WS_MAX_QUEUED_EVENTS. The socket is then closed with 1013
   * (try again later) — graphql-ws clients reconnect on it — and every queue of it is emptied; what
   * is left are the frames already in kernel buffers, until the client reads them and the close
   * frame, or ws gives up on the closing handshake (30 s) and cuts the connection. Whatever the client
   * missed is in the log: it resumes with afterSeq.
   */
  const dropSlowConsumer = (socket: WebSocket) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    metrics.slowConsumerDropped();
    log.warn({ bufferedBytes: socket.bufferedAmount }, 'closing a WebSocket whose client stopped reading');
    socket.close(SLOW_CONSUMER_CLOSE_CODE, 'Slow consumer: reconnect and resume with afterSeq');
  };

  const server = serveGraphqlWs<Record<string, unknown> | undefined, { state: SocketState }>(
    {
      schema,
      subscribe: createSharedSubscribe(schema, { transportOf: (context) => transports.get(context as object) }),
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      onConnect: async (ctx) => {
        let viewer: Viewer | null;
        try {
          const params = readConnectionParams(ctx.connectionParams);
          if ('refused' in params) {
            ctx.extra.socket.close(CloseCode.BadRequest, params.refused);
            return false;
          }
          viewer = await authenticate(services, params.authorization);
        } catch (error) {
          if (!(error instanceof InvalidTokenError)) throw error;
          log.debug({ err: error }, 'refused connection_init');
          return false;
        }
        const { socket } = ctx.extra;
        const clientIp = clientAddress(ctx.extra.request);
        // Per-socket limits must not multiply with sockets: one more than the caps allow is refused.
        const admission = await connectionLimits.admit(viewer?.id ?? null, clientIp);
        if ('refused' in admission) {
          metrics.connectionRefused(admission.refused.cap);
          socket.close(CloseCode.TooManyInitialisationRequests, admission.refused.reason);
          return false;
        }
        const state: SocketState = { viewer, clientIp, subscribes: { windowStart: 0, used: 0 }, operations: new Map(), counted: false, ticket: admission.ticket };
        ctx.extra.state = state;
        // The upgrade request (headers and all, ~1.3 KB) is not needed past this point; graphql-ws
        // would keep it for the socket's whole life.
        (ctx.extra as { request?: unknown }).request = undefined;
        // The socket may have closed while the token was checked; onClose has then run already and
        // would never uncount it.
        if (socket.readyState !== WebSocket.OPEN) {
          releaseTicket(state);
          return true;
        }
        state.counted = true;
        metrics.wsConnected();
        if (!viewer) return true;
        if (viewer.tokenExpiresAt) closeOnExpiry(socket, state, viewer.tokenExpiresAt);
        socketsOf.set(viewer.id, (socketsOf.get(viewer.id) ?? new Set()).add(socket));
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
        if (state) releaseTicket(state);
        if (!state?.counted) return;
        state.counted = false;
        metrics.wsDisconnected();
        if (!state.viewer) return;
        const sockets = socketsOf.get(state.viewer.id);
        sockets?.delete(ctx.extra.socket);
        if (sockets?.size === 0) socketsOf.delete(state.viewer.id);
        const done = uncount(state.viewer).finally(() => closing.delete(done));
        closing.add(done);
      },
      onSubscribe: (ctx, id, payload) => {
        const state = ctx.extra.state!;
        // Counts operations still being set up too, even those completed meanwhile: each holds a stream until it ends.
        const admission = admit(payload, ctx.extra.operationIds.size, state.subscribes);
        if ('errors' in admission) return admission.errors;
        const { document, payload: admitted } = admission;
        // graphql-ws keeps this payload for the subscription's life: let it share the one copy of
        // the document text (and of string variables such as a conversation id) with its peers.
        const variables = internStrings(admitted.variables);
        Object.assign(payload, { query: admitted.query, variables });
        const operation = getOperationAST(document, admitted.operationName);
        const field = operation?.selectionSet.selections.find((s) => s.kind === 'Field')?.name.value ?? 'unknown';
        state.operations.set(id, { type: operation!.operation, name: admitted.operationName ?? null, field, startedAt: process.hrtime.bigint(), live: false });
        return { schema, document, operationName: admitted.operationName, variableValues: variables };
      },
      onOperation: (ctx, id, _payload, _args, result) => {
        const operation = ctx.extra.state!.operations.get(id);
        if (!operation) return;
        if (Symbol.asyncIterator in result) {
          // A live subscription is counted by the subscriptions gauge; its set-up time is not an
          // operation's latency and would skew the p95 the dashboard shows.
          operation.live = true;
          metrics.subscribed(operation.field);
          return;
        }
        const failed = 'errors' in result && Boolean(result.errors?.length);
        metrics.operation('ws', operation.type, operation.name, failed ? 'error' : 'ok', Number(process.hrtime.bigint() - operation.startedAt) / 1e9);
      },
      onComplete: (ctx, id) => {
        const state = ctx.extra.state;
        const operation = state?.operations.get(id);
        state?.operations.delete(id);
        if (operation?.live) metrics.unsubscribed(operation.field);
      },
      context: (ctx, id) => {
        const { socket, state } = ctx.extra;
        const queueBound = state ? (state.queueBound ??= { limit: limits.wsMaxQueuedEvents, onOverflow: () => dropSlowConsumer(socket) }) : undefined;
        const context = createContext(services, { viewer: state?.viewer ?? null, clientIp: state?.clientIp ?? '', queueBound });
        transports.set(context, new SocketFrames(socket, id, format));
        return context;
      },
      onError: (_ctx, _id, _payload, errors) => format(errors),
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: format(result.errors) } : undefined),
    },
    wsServer,
    services.config.realtime.wsKeepAliveMs,
    log,
  );

  return {
    dispose: async () => {
      stopWatchingAccounts();
      await server.dispose();
      // graphql-ws calls onClose a few ticks after the socket reports closed: let those run first.
      await new Promise((resolve) => setImmediate(resolve));
      while (closing.size > 0) await Promise.all([...closing]);
    },
  };
}
