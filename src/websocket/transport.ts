import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ConnectionInitMessage, type Disposable, type ServerOptions } from 'graphql-ws';
import WebSocket, { type WebSocketServer } from 'ws';
import type { StringTable } from '../events/strings';
import type { Logger } from '../observability/logger';

/**
 * What every graphql-ws hook is handed about its socket, built here (graphql-ws/use/ws's `Extra`,
 * without the upgrade request: only the client's address is kept from it).
 */
export interface Extra<Session> {
  readonly socket: WebSocket;
  /** The client's address (TRUST_PROXY applies), read from the upgrade request. */
  readonly clientIp: string;
  /**
   * Ids of this socket's operations from their `subscribe` until they have ended, including those
   * completed while still being set up: what per-socket caps count.
   */
  readonly operationIds: ReadonlySet<string>;
  /** What the connection hooks know of the socket once `connection_init` is accepted. */
  session?: Session;
}

export interface TransportOptions {
  wss: WebSocketServer;
  /** WS_KEEPALIVE, in ms. */
  keepAliveMs: number;
  log: Logger;
  /** The client's address for an upgrade request. */
  clientAddress(request: IncomingMessage): string;
  /** Every string of every received message is interned: graphql-ws keeps a subscribe payload for the operation's life. */
  strings: StringTable;
}

/** The type and id of a client message, or null if it is not one (graphql-ws then refuses it itself). */
function peek(text: string): { type: unknown; id: unknown } | null {
  try {
    const message = JSON.parse(text) as unknown;
    return typeof message === 'object' && message !== null ? (message as { type: unknown; id: unknown }) : null;
  } catch {
    return null;
  }
}

/** Writes one frame; settles once the socket took it, or at once if the socket has closed. */
function sendFrame(socket: WebSocket, data: string): Promise<void> {
  return new Promise((resolve, reject) => (socket.readyState === WebSocket.OPEN ? socket.send(data, (error) => (error ? reject(error) : resolve())) : resolve()));
}

/**
 * graphql-ws on a `ws` server — graphql-ws's own `use/ws` starter, adapted (as its docs invite) for
 * ten thousand sockets per process:
 * - one keep-alive timer for all sockets instead of an interval per socket and a listener per ping,
 *   spread over the interval (see KeepAlive);
 * - a message handler that does not stay suspended for a subscription's life, so the received
 *   frame's Buffer is not kept alive with it;
 * - socket errors go to the log (a frame over WS_MAX_PAYLOAD is a client's doing: `ws` closes
 *   with 1009 itself) instead of `console.error` with a stack;
 * - an operation id stays taken from its `subscribe` until the operation has ended. graphql-ws
 *   forgets an id on `complete` while the subscribe is still being set up; a second `subscribe` with
 *   that id then let the first set-up claim the slot when it finished, and its stream was never
 *   ended (it outlived even the socket). Reusing an id that is set up or active is refused with
 *   4409, as the protocol says for an active one.
 */
export function serveGraphqlWs<P extends ConnectionInitMessage['payload'], Session>(options: ServerOptions<P, Extra<Session>>, { wss, keepAliveMs, log, clientAddress, strings }: TransportOptions): Disposable {
  // The subscribe payload graphql-ws keeps for an operation's life then shares its document text
  // and variable values with every other subscriber that sent the same.
  const server = makeServer({ ...options, jsonMessageReviver: (_key, value) => (typeof value === 'string' ? strings.intern(value) : value) });
  wss.options.handleProtocols = handleProtocols;
  wss.once('error', (error) => {
    log.error({ err: error }, 'the WebSocket server failed');
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
  });

  const keepAlive = new KeepAlive(keepAliveMs);

  wss.on('connection', (socket, request) => {
    const operationIds = new Set<string>();
    const extra: Extra<Session> = { socket, clientIp: clientAddress(request), operationIds };
    keepAlive.add(socket);
    socket.once('error', (error) => {
      log.debug({ err: error }, 'WebSocket protocol error');
      if (socket.readyState === WebSocket.OPEN) socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => sendFrame(socket, data),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            const text = String(data);
            const message = peek(text);
            const subscribeId = message?.type === 'subscribe' && typeof message.id === 'string' ? message.id : undefined;
            if (subscribeId !== undefined) {
              if (operationIds.has(subscribeId)) return socket.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${subscribeId} already exists`);
              operationIds.add(subscribeId);
            }
            // For a subscribe, graphql-ws's promise settles once the operation has ended for good.
            handle(text)
              .catch((error: unknown) => {
                log.error({ err: error }, 'graphql-ws failed handling a message');
                socket.close(CloseCode.InternalServerError, 'Internal server error');
              })
              .finally(() => subscribeId !== undefined && operationIds.delete(subscribeId));
          }),
      },
      extra,
    );
    socket.once('close', (code, reason) => {
      keepAlive.delete(socket);
      void closed(code, String(reason));
    });
  });

  return {
    dispose: async () => {
      keepAlive.stop();
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Slices of the keep-alive interval: a socket is pinged in its slice's turn. */
const KEEP_ALIVE_SLICES = 48;

/**
 * Pings every socket once per `intervalMs` and cuts those that did not answer the previous ping (a
 * client that vanished without closing: a dropped network). The sockets are spread over slices of
 * the interval, each pinged in its turn: pinging ten thousand in one loop took the event loop for
 * a few hundred milliseconds every round (a write each, then ten thousand pongs), and every frame
 * due meanwhile waited.
 */
class KeepAlive {
  private readonly slices: Set<WebSocket>[] = Array.from({ length: KEEP_ALIVE_SLICES }, () => new Set());
  private readonly awaitingPong = new Set<WebSocket>();
  private nextSlice = 0;
  private turn = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs: number) {
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(intervalMs / KEEP_ALIVE_SLICES)));
    this.timer.unref();
  }

  add(socket: WebSocket): void {
    this.slices[this.nextSlice++ % KEEP_ALIVE_SLICES].add(socket);
    socket.on('pong', () => this.awaitingPong.delete(socket));
  }

  /** A socket that closed (or was cut): nothing is kept per socket to find its slice, so each is asked. */
  delete(socket: WebSocket): void {
    for (const slice of this.slices) slice.delete(socket);
    this.awaitingPong.delete(socket);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    for (const socket of this.slices[this.turn++ % KEEP_ALIVE_SLICES]) {
      if (this.awaitingPong.has(socket)) {
        // Silent for a whole round.
        this.delete(socket);
        socket.terminate();
      } else if (socket.readyState === WebSocket.OPEN) {
        this.awaitingPong.add(socket);
        socket.ping();
      }
    }
  }
}
