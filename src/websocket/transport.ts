import type { IncomingMessage } from 'node:http';
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, handleProtocols, MessageType, parseMessage, type Disposable, type Message, type SubscribePayload } from 'graphql-ws';
import WebSocket, { type WebSocketServer } from 'ws';
import type { StringTable } from '../events/strings';
import type { Logger } from '../observability/logger';
import type { FrameTransport, PushedStream } from '../subscriptions/shared-execution';

/**
 * What an operation's set-up answers (see ProtocolHooks.start): refused with errors, one result
 * (a query, a mutation, a subscription that failed to start), a stream of results the server pulls
 * and writes, or a stream that writes its own frames through the operation and ends it itself.
 */
export type Outcome = { refused: readonly GraphQLError[] } | { result: ExecutionResult } | { pulled: AsyncIterableIterator<ExecutionResult> } | { pushed: PushedStream };

/** What the protocol asks of the rest of Parley: who a socket is, what an operation does. */
export interface ProtocolHooks<Session> {
  /** How long a socket may stay open without a `connection_init`, in ms (then 4408). */
  connectionInitWaitTimeout: number;
  /**
   * A `connection_init`, with its payload (not kept afterwards: it carries the token). True
   * acknowledges; false refuses with 4403, unless the hook closed the socket itself with a reason.
   */
  connect(connection: Connection<Session>, params: Readonly<Record<string, unknown>> | undefined): Promise<boolean>;
  /** The socket closed: every socket once, acknowledged or not, after its operations were stopped. */
  closed(connection: Connection<Session>): void;
  /** Sets one operation up (admission, context, execution). */
  start(connection: Connection<Session>, operation: Operation, payload: SubscribePayload): Promise<Outcome>;
  /** The operation ended (answered, completed by the client, failed, or its socket closed): once each. */
  ended(connection: Connection<Session>, operation: Operation): void;
  /** Errors as clients see them (masked in production), on `next` and `error` messages alike. */
  formatErrors(errors: readonly GraphQLError[]): GraphQLFormattedError[];
}

export interface TransportOptions {
  wss: WebSocketServer;
  /** WS_KEEPALIVE, in ms. */
  keepAliveMs: number;
  log: Logger;
  /** The client's address for an upgrade request. */
  clientAddress(request: IncomingMessage): string;
  /** Every string of every received message is interned: ten thousand subscribers send the same variables. */
  strings: StringTable;
}

const ACK = JSON.stringify({ type: MessageType.ConnectionAck });

/** What the protocol knows of one socket. One object per socket; its listeners are shared functions. */
export class Connection<Session> {
  /** Set by the connection hooks once `connection_init` is accepted. */
  session?: Session;
  initReceived = false;
  acknowledged = false;
  /** Closes the socket with 4408 if no `connection_init` comes in time; cleared when one does. */
  initTimer: NodeJS.Timeout | undefined = undefined;
  private live: Map<string, Operation> | undefined = undefined;

  constructor(
    readonly socket: WebSocket,
    /** The client's address (TRUST_PROXY applies), read from the upgrade request. */
    readonly clientIp: string,
  ) {}

  /**
   * This socket's operations from their `subscribe` until they have ended — including one the
   * client completed while it was still being set up: what per-socket caps count.
   */
  get operations(): ReadonlyMap<string, Operation> {
    return this.live ?? EMPTY;
  }

  add(operation: Operation): void {
    (this.live ??= new Map()).set(operation.id, operation);
  }

  remove(operation: Operation): void {
    if (this.live?.get(operation.id) !== operation) return;
    this.live.delete(operation.id);
    if (this.live.size === 0) this.live = undefined;
  }
}

const EMPTY: ReadonlyMap<string, Operation> = new Map();

/**
 * One operation of a socket, from its `subscribe` until it has ended. It is the frame transport of
 * a pushed stream (shared-execution.ts), so a caught-up subscriber holds no promise, no suspended
 * loop and no closure while it waits for events: an idle subscription is a few plain objects.
 */
export class Operation implements FrameTransport {
  /** Set by the hooks for metrics: the operation's type, name and root field. */
  type = '';
  name: string | null = null;
  field = '';
  /** performance.now() when the subscribe message came. */
  startedAt = 0;
  /** A subscription that started streaming (counted in the active-subscriptions gauge). */
  live = false;
  /** The client completed it, or its socket closed: nothing more is written for it. */
  cancelled = false;
  finished = false;
  /** What to stop when it is cancelled. */
  stream: PushedStream | AsyncIterableIterator<ExecutionResult> | undefined = undefined;

  constructor(
    readonly id: string,
    private readonly server: ProtocolServer<unknown>,
    private readonly connection: Connection<unknown>,
  ) {}

  write(frame: string, from: { written(): void }): boolean {
    const { socket } = this.connection;
    if (this.cancelled || socket.readyState !== WebSocket.OPEN) return false;
    // ws calls back once the frame is written, or with an error when the socket fails first.
    socket.send(frame, () => from.written());
    return true;
  }

  /** A pushed stream ended after its last frame was taken: `complete`, or `error` with what it failed with. */
  end(failure?: { error: unknown }): void {
    this.server.streamEnded(this.connection, this, failure);
  }
}

/**
 * The graphql-transport-ws protocol (graphql-ws's, which its clients speak) on a `ws` server,
 * written for ten thousand subscribed sockets per process rather than taken from graphql-ws's
 * `makeServer`: that keeps, per subscription, a suspended message handler with the subscribe
 * message, its execution arguments and three closures, and a promise chain per event; here a
 * subscription whose frames are pushed is an Operation and the stream's own state.
 *
 * The protocol is graphql-ws's, close codes included: 4400 for a message that is not one (or not
 * one a server takes), 4401 for a subscribe before the acknowledgement, 4403 for a refused
 * `connection_init`, 4406 for another subprotocol, 4408 when no `connection_init` came in time,
 * 4409 for an id in use, 4429 for a second `connection_init`, 4500 when Parley fails. An operation
 * id stays taken from its `subscribe` until the operation has ended, even when the client completed
 * it during its set-up: a second `subscribe` with it is refused with 4409 instead of racing the
 * first set-up for the slot.
 */
class ProtocolServer<Session> {
  constructor(
    private readonly hooks: ProtocolHooks<Session>,
    private readonly log: Logger,
    private readonly strings: StringTable,
  ) {}

  opened(connection: Connection<Session>): void {
    const { socket } = connection;
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      close(socket, CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    const wait = this.hooks.connectionInitWaitTimeout;
    if (wait > 0 && Number.isFinite(wait)) {
      connection.initTimer = setTimeout(() => close(socket, CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout'), wait);
      // A socket keeps the process alive by itself; its timer must not keep a stopping one alive.
      connection.initTimer.unref();
    }
  }

  received(connection: Connection<Session>, text: string): void {
    const { socket } = connection;
    // A socket being closed (refused, timed out, dropped) is done with: what it still sends is not handled.
    if (socket.readyState !== WebSocket.OPEN) return;
    try {
      this.handle(connection, text);
    } catch (error) {
      this.failed(socket, error);
    }
  }

  private handle(connection: Connection<Session>, text: string): void {
    const { socket } = connection;
    let message: Message;
    try {
      message = parseMessage(text);
    } catch {
      return close(socket, CloseCode.BadRequest, 'Invalid message received');
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        if (connection.initReceived) return close(socket, CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
        connection.initReceived = true;
        clearTimeout(connection.initTimer);
        connection.initTimer = undefined;
        return this.guard(socket, this.init(connection, message.payload ?? undefined));
      case MessageType.Ping:
        return this.send(socket, JSON.stringify(message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong }));
      case MessageType.Pong:
        return;
      case MessageType.Subscribe: {
        if (!connection.acknowledged) return close(socket, CloseCode.Unauthorized, 'Unauthorized');
        if (connection.operations.has(message.id)) return close(socket, CloseCode.SubscriberAlreadyExists, `Subscriber for ${message.id} already exists`);
        const operation = new Operation(message.id, this as ProtocolServer<unknown>, connection as Connection<unknown>);
        connection.add(operation);
        // The variables and operation name stay with a subscription for its life: ten thousand
        // subscribers of one conversation then hold one copy of its id. Only they are interned, and
        // only short strings.
        const { variables, operationName } = message.payload;
        const payload = { ...message.payload, variables: this.intern(variables) as Record<string, unknown> | null | undefined, operationName: this.intern(operationName) as string | null | undefined };
        return this.guard(socket, this.run(connection, operation, payload));
      }
      case MessageType.Complete: {
        const operation = connection.operations.get(message.id);
        if (operation) this.cancel(operation);
        return;
      }
      default:
        // connection_ack, next and error are the server's to send.
        return close(socket, CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  /** The socket closed: its operations stop, each ends once, then the connection hooks uncount it. */
  closed(connection: Connection<Session>): void {
    clearTimeout(connection.initTimer);
    connection.initTimer = undefined;
    for (const operation of connection.operations.values()) {
      this.cancel(operation);
      this.finish(connection, operation);
    }
    this.hooks.closed(connection);
  }

  /** Called by a pushed stream's operation when the stream has ended. */
  streamEnded(connection: Connection<Session>, operation: Operation, failure: { error: unknown } | undefined): void {
    if (operation.finished) return;
    if (!operation.cancelled) {
      if (failure) this.sendErrors(connection.socket, operation, [asGraphQLError(failure.error)]);
      else this.send(connection.socket, completeFrame(operation.id));
    }
    this.finish(connection, operation);
  }

  private async init(connection: Connection<Session>, params: Record<string, unknown> | undefined): Promise<void> {
    const { socket } = connection;
    if (!(await this.hooks.connect(connection, params))) return close(socket, CloseCode.Forbidden, 'Forbidden');
    connection.acknowledged = true;
    this.send(socket, ACK);
  }

  private async run(connection: Connection<Session>, operation: Operation, payload: SubscribePayload): Promise<void> {
    const { socket } = connection;
    let pushed = false;
    try {
      const outcome = await this.hooks.start(connection, operation, payload);
      if ('refused' in outcome) {
        if (!operation.cancelled) this.sendErrors(socket, operation, outcome.refused);
      } else if ('result' in outcome) {
        if (!operation.cancelled) await this.sendResult(socket, operation, outcome.result);
        if (!operation.cancelled) this.send(socket, completeFrame(operation.id));
      } else if ('pushed' in outcome) {
        // The stream ends its operation itself (streamEnded), maybe already has; if the client
        // completed it (or the socket closed) during the set-up, it stops now.
        pushed = true;
        operation.stream = outcome.pushed;
        if (operation.cancelled) stopStream(operation);
      } else {
        await this.pull(socket, operation, outcome.pulled);
      }
    } finally {
      if (!pushed) this.finish(connection, operation);
    }
  }

  /** A stream the server pulls: each result as `next`, then `complete`, or `error` if it throws. */
  private async pull(socket: WebSocket, operation: Operation, stream: AsyncIterableIterator<ExecutionResult>): Promise<void> {
    operation.stream = stream;
    if (operation.cancelled) return stopStream(operation);
    try {
      for (;;) {
        const { value, done } = await stream.next();
        if (done || operation.cancelled) break;
        await this.sendResult(socket, operation, value);
      }
    } catch (error) {
      if (!operation.cancelled) this.sendErrors(socket, operation, [asGraphQLError(error)]);
      return;
    }
    if (!operation.cancelled) this.send(socket, completeFrame(operation.id));
  }

  private cancel(operation: Operation): void {
    if (operation.cancelled) return;
    operation.cancelled = true;
    stopStream(operation);
  }

  private finish(connection: Connection<Session>, operation: Operation): void {
    if (operation.finished) return;
    operation.finished = true;
    operation.cancelled = true;
    connection.remove(operation);
    this.hooks.ended(connection, operation);
  }

  private sendResult(socket: WebSocket, operation: Operation, result: ExecutionResult): Promise<void> {
    const payload = result.errors ? { ...result, errors: this.hooks.formatErrors(result.errors) } : result;
    return sendFrame(socket, JSON.stringify({ id: operation.id, type: MessageType.Next, payload }));
  }

  private sendErrors(socket: WebSocket, operation: Operation, errors: readonly GraphQLError[]): void {
    this.send(socket, JSON.stringify({ id: operation.id, type: MessageType.Error, payload: this.hooks.formatErrors(errors) }));
  }

  private send(socket: WebSocket, frame: string): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(frame);
  }

  /** Handling a message that fails later (a hook that throws) is `failed` too. */
  private guard(socket: WebSocket, work: Promise<void>): void {
    work.catch((error: unknown) => this.failed(socket, error));
  }

  /** A message Parley failed to handle is its failure, not the client's: logged, and the socket closed with 4500. */
  private failed(socket: WebSocket, error: unknown): void {
    this.log.error({ err: error }, 'failed handling a graphql-ws message');
    close(socket, CloseCode.InternalServerError, 'Internal server error');
  }

  /** Short strings of a JSON value, each replaced by its shared copy. */
  private intern(value: unknown): unknown {
    if (typeof value === 'string') return value.length <= INTERNED_MAX_LENGTH ? this.strings.intern(value) : value;
    if (Array.isArray(value)) return value.map((item) => this.intern(item));
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.intern(item)]));
    return value;
  }
}

/** Longer strings in variables are message text, not ids: not worth sharing, and not to be pinned. */
const INTERNED_MAX_LENGTH = 200;

/** RFC 6455 allows a close reason of at most 123 bytes; `ws` throws on a longer one. */
const CLOSE_REASON_MAX_BYTES = 123;

/** Closes `socket` (if still open) with `reason` cut to what a close frame can carry, on a character boundary. */
export function close(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState !== WebSocket.OPEN) return;
  const characters = [...reason.slice(0, CLOSE_REASON_MAX_BYTES)];
  while (Buffer.byteLength(characters.join('')) > CLOSE_REASON_MAX_BYTES) characters.pop();
  socket.close(code, characters.join(''));
}

/**
 * Stops an operation's stream, if it has one yet (else its set-up stops it once it does): a pull
 * loop ends once return() settles its next(); a pushed stream then ends its operation itself.
 */
function stopStream({ stream }: Operation): void {
  if (stream && 'stop' in stream) stream.stop();
  else void stream?.return?.().catch(() => undefined);
}

const completeFrame = (id: string) => JSON.stringify({ id, type: MessageType.Complete });

/** What a stream failed with, as a GraphQL error (as graphql-ws reports it): formatting masks what is internal. */
function asGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  const original = error instanceof Error ? error : new Error(String(error));
  return new GraphQLError(original.message, { originalError: original });
}

/** Writes one frame; settles once the socket took it, or at once if the socket has closed. */
function sendFrame(socket: WebSocket, data: string): Promise<void> {
  return new Promise((resolve) => (socket.readyState === WebSocket.OPEN ? socket.send(data, () => resolve()) : resolve()));
}

const CONNECTION = Symbol('parley.connection');
type Tagged = WebSocket & { [CONNECTION]?: Connection<unknown> };

/**
 * GraphQL over WebSocket (graphql-transport-ws) on a `ws` server, with, per socket, one Connection
 * and listeners shared by all sockets (each finds its Connection on the socket):
 * - one keep-alive timer for all sockets, spread over the interval (see KeepAlive);
 * - socket errors go to the log (a frame over WS_MAX_PAYLOAD is a client's doing: `ws` closes
 *   with 1009 itself) instead of `console.error` with a stack;
 * - strings of subscribe variables are interned (see ProtocolServer.intern).
 */
export function serveGraphqlWs<Session>(hooks: ProtocolHooks<Session>, { wss, keepAliveMs, log, clientAddress, strings }: TransportOptions): Disposable {
  const server = new ProtocolServer(hooks, log, strings);
  wss.options.handleProtocols = handleProtocols;
  wss.once('error', (error) => {
    log.error({ err: error }, 'the WebSocket server failed');
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
  });

  const keepAlive = new KeepAlive(keepAliveMs);

  function onMessage(this: Tagged, data: WebSocket.RawData): void {
    server.received(this[CONNECTION] as Connection<Session>, String(data));
  }
  function onError(this: Tagged, error: Error): void {
    log.debug({ err: error }, 'WebSocket protocol error');
    close(this, CloseCode.InternalServerError, 'Internal server error');
  }
  function onClose(this: Tagged): void {
    keepAlive.delete(this);
    server.closed(this[CONNECTION] as Connection<Session>);
  }

  wss.on('connection', (socket: Tagged, request) => {
    const connection = new Connection<Session>(socket, clientAddress(request));
    socket[CONNECTION] = connection as Connection<unknown>;
    keepAlive.add(socket);
    socket.on('error', onError);
    socket.on('message', onMessage);
    socket.on('close', onClose);
    server.opened(connection);
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
  /** One listener for every socket's pongs. */
  private readonly onPong: (this: WebSocket) => void;

  constructor(intervalMs: number) {
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(intervalMs / KEEP_ALIVE_SLICES)));
    this.timer.unref();
    const { awaitingPong } = this;
    this.onPong = function (this: WebSocket) {
      awaitingPong.delete(this);
    };
  }

  add(socket: WebSocket): void {
    this.slices[this.nextSlice++ % KEEP_ALIVE_SLICES].add(socket);
    socket.on('pong', this.onPong);
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
