import { CloseCode } from 'graphql-ws';
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
import { close, type Connection, type ProtocolHooks } from './transport';

/**
 * What Parley knows of a socket once its `connection_init` was accepted. It is its own subscribe
 * budget (the window of WS_SUBSCRIBE_RATE): one object per socket, however many it subscribes.
 */
export interface Session extends SubscribeBudget {
  viewer: Viewer | null;
  /** True once this socket was counted (presence, connections); then, and only then, its close uncounts it. */
  counted: boolean;
  /** The bound of every subscription queue of this socket (one object for all of them). */
  queueBound?: QueueBound;
  /** What this socket counts against the per-user and per-address caps, until given back. */
  ticket?: ConnectionTicket;
}

type ConnectionHooks = Pick<ProtocolHooks<Session>, 'connect' | 'closed'>;

/** How often open sockets' sessions are checked against PostgreSQL, besides the bus announcements. */
const SESSION_RECHECK_MS = 10_000;

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
 * 4403 when its token expires, its session is signed out or its account is erased. `dispose()` waits for the close handlers
 * (presence, last seen) before the stores they write to close.
 */
export async function createConnectionHooks({ services, connectionLimits, log }: { services: Services; connectionLimits: ConnectionLimits; log: Logger }) {
  const { metrics } = services;
  /** Signed-in sockets by user: closed when the account is erased, or each when its token expires. */
  const socketsOf = new Map<string, Set<Connection<Session>>>();
  const closing = new Set<Promise<void>>();

  const stopWatchingAccounts = await services.bus.listen(Topic.accountClosed(), ({ userId }) => {
    for (const { socket } of socketsOf.get(userId) ?? []) close(socket, CloseCode.Forbidden, 'Account deleted');
  });
  const stopWatchingSessions = await services.bus.listen(Topic.sessionRevoked(), ({ sessionId, userId }) => {
    for (const { socket, session } of socketsOf.get(userId) ?? []) if (session?.viewer?.sessionId === sessionId) close(socket, CloseCode.Forbidden, 'Signed out');
  });

  const releaseTicket = (session: Session) => {
    if (session.ticket) connectionLimits.release(session.ticket);
    session.ticket = undefined;
  };

  // One sweep a second over the signed-in sockets, instead of a timer each: a token's `exp` is in
  // whole seconds, so none closes more than a second late, and an idle socket holds no timer. Every
  // SESSION_RECHECK_MS the sweep also asks, in one statement, which of their sessions were revoked:
  // an instance that missed a `session-revoked` announcement (its bus subscriber was reconnecting)
  // closes those sockets then, not only when their tokens expire.
  let sweeps = 0;
  let rechecking = false;
  const sweep = setInterval(() => {
    const now = Date.now();
    const recheck = !rechecking && (sweeps += 1) % (SESSION_RECHECK_MS / 1000) === 0;
    const bySession = new Map<string, Connection<Session>[]>();
    for (const sockets of socketsOf.values()) {
      for (const connection of sockets) {
        const viewer = connection.session?.viewer;
        if (viewer?.tokenExpiresAt !== undefined && viewer.tokenExpiresAt <= now) close(connection.socket, CloseCode.Forbidden, 'Token expired');
        if (!recheck || !viewer?.sessionId) continue;
        const listed = bySession.get(viewer.sessionId);
        if (listed) listed.push(connection);
        else bySession.set(viewer.sessionId, [connection]);
      }
    }
    if (bySession.size === 0) return;
    rechecking = true;
    closeRevoked(bySession)
      .catch((error: unknown) => log.warn({ err: error }, 'could not recheck the sessions of open sockets'))
      .finally(() => (rechecking = false));
  }, 1000);
  sweep.unref();

  const closeRevoked = async (bySession: Map<string, Connection<Session>[]>) => {
    const revoked: { id: string }[] = await services.dataSource.query(`SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NOT NULL`, [[...bySession.keys()]]);
    for (const { id } of revoked) for (const { socket } of bySession.get(id) ?? []) close(socket, CloseCode.Forbidden, 'Signed out');
  };

  /** Presence is best effort: a Redis hiccup must not refuse the connection (the heartbeat re-announces it). */
  const count = (connection: Connection<Session>, session: Session, viewer: Viewer) => {
    socketsOf.set(viewer.id, (socketsOf.get(viewer.id) ?? new Set()).add(connection));
    services.presence.connected(viewer.id).then(
      (cameOnline) => cameOnline && session.counted && announceOnline(services, viewer.id),
      (error: unknown) => log.warn({ err: error, userId: viewer.id }, 'could not record presence on connect'),
    );
  };

  const uncount = async (connection: Connection<Session>, viewer: Viewer) => {
    const sockets = socketsOf.get(viewer.id);
    sockets?.delete(connection);
    if (sockets?.size === 0) socketsOf.delete(viewer.id);
    try {
      if (await services.presence.disconnected(viewer.id)) await announceOffline(services, [viewer.id]);
    } catch (error) {
      log.warn({ err: error, userId: viewer.id }, 'could not record presence on disconnect');
    }
  };

  const hooks: ConnectionHooks = {
    connect: async (connection: Connection<Session>, connectionParams) => {
      const { socket, clientIp } = connection;
      let viewer: Viewer | null;
      try {
        const params = readConnectionParams(connectionParams);
        if ('refused' in params) {
          close(socket, CloseCode.BadRequest, params.refused);
          return false;
        }
        viewer = await authenticate(services, params.authorization);
      } catch (error) {
        if (error instanceof JwksUnavailableError) {
          // Neither accepted nor refused: the client tries again later (graphql-ws clients retry 1013).
          log.warn({ err: error }, 'could not check a connection_init token');
          close(socket, 1013, 'Identity provider unavailable; try again later');
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
        close(socket, CloseCode.TooManyInitialisationRequests, admission.refused.reason);
        return false;
      }
      // Every field now, even undefined: one added later would give each session a property array of its own.
      const session: Session = { viewer, windowStart: 0, used: 0, counted: false, ticket: admission.ticket, queueBound: undefined };
      connection.session = session;
      // The socket may have closed while the token was checked; `closed` has then run already and
      // would never uncount it.
      if (socket.readyState !== WebSocket.OPEN) {
        releaseTicket(session);
        return true;
      }
      session.counted = true;
      metrics.wsConnected();
      if (viewer) count(connection, session, viewer);
      // A signOut announced while the token was being checked found no socket of this session to
      // close: look again now that this one is listed (the announcement made every instance forget
      // the session, so this reads it).
      // (Best effort: PostgreSQL failing just now leaves the socket open, as the check a moment ago did.)
      if (viewer?.sessionId && !(await services.sessions.isLive(viewer.sessionId, viewer.id).catch(() => true))) {
        close(socket, CloseCode.Forbidden, 'Signed out');
        return false;
      }
      return true;
    },
    // For every socket, acknowledged or not.
    closed: (connection: Connection<Session>) => {
      const { session } = connection;
      if (!session) return;
      releaseTicket(session);
      if (!session.counted) return;
      session.counted = false;
      metrics.wsDisconnected();
      if (!session.viewer) return;
      const done = uncount(connection, session.viewer).finally(() => closing.delete(done));
      closing.add(done);
    },
  };

  return {
    hooks,
    async dispose() {
      stopWatchingAccounts();
      stopWatchingSessions();
      clearInterval(sweep);
      while (closing.size > 0) await Promise.all([...closing]);
    },
  };
}
