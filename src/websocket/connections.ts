import { CloseCode, type ServerOptions } from 'graphql-ws';
import { WebSocket } from 'ws';
import type { Services } from '../context';
import { Topic } from '../events/topics';
import type { Logger } from '../observability/logger';
import { authenticate } from '../security/auth';
import type { ConnectionLimits, ConnectionTicket } from '../security/connection-limits';
import { InvalidTokenError } from '../security/jwt';
import { JwksUnavailableError } from '../security/jwks';
import type { Viewer } from '../security/viewer';
import type { SubscribeBudget } from '../security/ws-admission';
import { announceOffline, announceOnline } from '../services/online-status';
import type { QueueBound } from '../subscriptions/event-queue';
import type { Extra } from './transport';

/** One operation of a socket, as the operation hooks track it for metrics. */
export interface Operation {
  type: string;
  name: string | null;
  /** Root field, the label of the active-subscriptions gauge. */
  field: string;
  startedAt: bigint;
  /** Counted in the active-subscriptions gauge until it completes. */
  live: boolean;
}

/** What Parley knows of a socket once its `connection_init` was accepted. */
export interface Session {
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

type ConnectionHooks = Required<Pick<ServerOptions<Record<string, unknown> | undefined, Extra<Session>>, 'onConnect' | 'onClose'>>;

/** setTimeout's longest delay (about 24.8 days); a later expiry is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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

/**
 * Who a socket is and how long it may stay: `connection_init` names the viewer (a bad or expired
 * token, or one whose account was erased, closes it with 4403), the connection caps admit it (else
 * 4429), and from then on it counts for presence and metrics until it closes. It is closed with
 * 4403 when its token expires or its account is erased. `dispose()` waits for the close handlers
 * (presence, last seen) before the stores they write to close.
 */
export async function createConnectionHooks({ services, connectionLimits, log }: { services: Services; connectionLimits: ConnectionLimits; log: Logger }) {
  const { metrics } = services;
  const socketsOf = new Map<string, Set<WebSocket>>();
  const closing = new Set<Promise<void>>();

  const stopWatchingAccounts = await services.bus.listen(Topic.accountClosed(), ({ userId }) => {
    for (const socket of socketsOf.get(userId) ?? []) socket.close(CloseCode.Forbidden, 'Account deleted');
  });

  const releaseTicket = (session: Session) => {
    if (session.ticket) connectionLimits.release(session.ticket);
    session.ticket = undefined;
  };

  const closeOnExpiry = (socket: WebSocket, session: Session, expiresAt: number) => {
    const delay = expiresAt - Date.now();
    session.expiry = setTimeout(
      () => (delay > MAX_TIMER_MS ? closeOnExpiry(socket, session, expiresAt) : socket.close(CloseCode.Forbidden, 'Token expired')),
      Math.min(Math.max(delay, 0), MAX_TIMER_MS),
    );
    session.expiry.unref();
  };

  /** Presence is best effort: a Redis hiccup must not refuse the connection (the heartbeat re-announces it). */
  const count = (socket: WebSocket, session: Session, viewer: Viewer) => {
    if (viewer.tokenExpiresAt) closeOnExpiry(socket, session, viewer.tokenExpiresAt);
    socketsOf.set(viewer.id, (socketsOf.get(viewer.id) ?? new Set()).add(socket));
    services.presence.connected(viewer.id).then(
      (cameOnline) => cameOnline && session.counted && announceOnline(services, viewer.id),
      (error: unknown) => log.warn({ err: error, userId: viewer.id }, 'could not record presence on connect'),
    );
  };

  const uncount = async (socket: WebSocket, viewer: Viewer) => {
    const sockets = socketsOf.get(viewer.id);
    sockets?.delete(socket);
    if (sockets?.size === 0) socketsOf.delete(viewer.id);
    try {
      if (await services.presence.disconnected(viewer.id)) await announceOffline(services, [viewer.id]);
    } catch (error) {
      log.warn({ err: error, userId: viewer.id }, 'could not record presence on disconnect');
    }
  };

  const hooks: ConnectionHooks = {
    onConnect: async (ctx) => {
      const { socket, clientIp } = ctx.extra;
      let viewer: Viewer | null;
      try {
        const params = readConnectionParams(ctx.connectionParams);
        if ('refused' in params) {
          socket.close(CloseCode.BadRequest, params.refused);
          return false;
        }
        viewer = await authenticate(services, params.authorization);
      } catch (error) {
        if (error instanceof JwksUnavailableError) {
          // Neither accepted nor refused: the client tries again later (graphql-ws clients retry 1013).
          log.warn({ err: error }, 'could not check a connection_init token');
          socket.close(1013, 'Identity provider unavailable; try again later');
          return false;
        }
        if (!(error instanceof InvalidTokenError)) throw error;
        log.debug({ err: error }, 'refused connection_init');
        return false;
      }
      // Per-socket limits must not multiply with sockets: one more than the caps allow is refused.
      const admission = await connectionLimits.admit(viewer?.id ?? null, clientIp);
      if ('refused' in admission) {
        metrics.connectionRefused(admission.refused.cap);
        socket.close(CloseCode.TooManyInitialisationRequests, admission.refused.reason);
        return false;
      }
      const session: Session = { viewer, clientIp, subscribes: { windowStart: 0, used: 0 }, operations: new Map(), counted: false, ticket: admission.ticket };
      ctx.extra.session = session;
      // The socket may have closed while the token was checked; onClose has then run already and
      // would never uncount it.
      if (socket.readyState !== WebSocket.OPEN) {
        releaseTicket(session);
        return true;
      }
      session.counted = true;
      metrics.wsConnected();
      if (viewer) count(socket, session, viewer);
      return true;
    },
    // onClose runs for every socket, acknowledged or not (onDisconnect does not).
    onClose: (ctx) => {
      const { session, socket } = ctx.extra;
      if (!session) return;
      clearTimeout(session.expiry);
      releaseTicket(session);
      if (!session.counted) return;
      session.counted = false;
      metrics.wsDisconnected();
      if (!session.viewer) return;
      const done = uncount(socket, session.viewer).finally(() => closing.delete(done));
      closing.add(done);
    },
  };

  return {
    hooks,
    async dispose() {
      stopWatchingAccounts();
      // graphql-ws calls onClose a few ticks after the socket reports closed: let those run first.
      await new Promise((resolve) => setImmediate(resolve));
      while (closing.size > 0) await Promise.all([...closing]);
    },
  };
}
