import { getOperationAST, type GraphQLError, type GraphQLFormattedError, type GraphQLSchema, type ParseOptions, type ValidationRule } from 'graphql';
import type { ServerOptions } from 'graphql-ws';
import { WebSocket } from 'ws';
import { createContext, eventContext, type Context, type Services } from '../context';
import type { Executor } from '../execution/executor';
import type { Logger } from '../observability/logger';
import type { TrustedDocuments } from '../security/persisted-queries';
import type { QueryCost } from '../security/query-cost';
import { createWsAdmission } from '../security/ws-admission';
import { createSharedSubscribe, type FrameTransport } from '../subscriptions/shared-execution';
import type { Session } from './connections';
import type { Extra } from './transport';

/** The close code of a socket dropped for not reading its frames (RFC 6455: try again later). */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;

export interface OperationOptions {
  schema: GraphQLSchema;
  /** Runs queries and each subscription event (compiled, or graphql-js), as on HTTP. */
  executor: Executor;
  services: Services;
  log: Logger;
  /** The HTTP side's formatter, so both transports mask and shape errors alike. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** The HTTP side's query limits and introspection rule. */
  validationRules: ValidationRule[];
  /** The HTTP side's cost model and limit. */
  queryCost: QueryCost;
  parseOptions: ParseOptions;
  /** Trusted mode: only these operations run. */
  trustedDocuments?: TrustedDocuments;
}

type OperationHooks = Required<
  Pick<ServerOptions<Record<string, unknown> | undefined, Extra<Session>>, 'execute' | 'subscribe' | 'onSubscribe' | 'onOperation' | 'onComplete' | 'context' | 'onError' | 'onNext'>
>;

/** Where a shared subscription writes its frames: straight to its socket, as graphql-ws's own send does. */
class SocketFrames implements FrameTransport {
  constructor(
    private readonly socket: WebSocket,
    readonly id: string,
    readonly formatErrors: FrameTransport['formatErrors'],
  ) {}

  write(frame: string, done: () => void): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return false;
    // ws calls back once the frame is written, or with an error when the socket fails first.
    this.socket.send(frame, done);
    return true;
  }
}

/**
 * What happens to each operation of a socket: the same admission as HTTP (ws-admission.ts: caps,
 * trusted documents, limits, cost), its context (whose loaders are fresh for every event), shared
 * execution of each event for subscribers of one document (shared-execution.ts), errors formatted
 * as on HTTP, and its metrics: latency for queries and mutations, the active-subscriptions gauge.
 */
export function createOperationHooks(options: OperationOptions): OperationHooks {
  const { schema, executor, services, log, formatError } = options;
  const { limits } = services.config;
  const { metrics } = services;
  const admit = createWsAdmission({
    ...options,
    production: services.config.env === 'production',
    subscriptionsPerSocket: limits.subscriptionsPerSocket,
    subscribesPerSecond: limits.subscribesPerSecond,
  });
  const format = (errors: readonly GraphQLError[]) => errors.map((e) => formatError(e.toJSON(), e));
  /** Where a shared subscription writes its frames, by the operation's context (see shared-execution.ts). */
  const transports = new WeakMap<object, FrameTransport>();

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

  return {
    execute: (args) => executor.execute(args),
    subscribe: createSharedSubscribe(schema, {
      execute: (args) => executor.execute(args),
      transportOf: (context) => transports.get(context as object),
      contextForEvent: (context) => eventContext(context as Context),
    }),
    onSubscribe: (ctx, id, payload) => {
      const session = ctx.extra.session!;
      // Counts operations still being set up too, even those completed meanwhile: each holds a stream until it ends.
      const admission = admit(payload, ctx.extra.operationIds.size, session.subscribes);
      if ('errors' in admission) return admission.errors;
      const { document, payload: admitted } = admission;
      const operation = getOperationAST(document, admitted.operationName);
      const field = operation?.selectionSet.selections.find((s) => s.kind === 'Field')?.name.value ?? 'unknown';
      session.operations.set(id, { type: operation!.operation, name: admitted.operationName ?? null, field, startedAt: process.hrtime.bigint(), live: false });
      return { schema, document, operationName: admitted.operationName, variableValues: admitted.variables };
    },
    onOperation: (ctx, id, _payload, _args, result) => {
      const operation = ctx.extra.session!.operations.get(id);
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
      const session = ctx.extra.session;
      const operation = session?.operations.get(id);
      session?.operations.delete(id);
      if (operation?.live) metrics.unsubscribed(operation.field);
    },
    context: (ctx, id) => {
      const { socket, session } = ctx.extra;
      const queueBound = session ? (session.queueBound ??= { limit: limits.wsMaxQueuedEvents, onOverflow: () => dropSlowConsumer(socket) }) : undefined;
      const context = createContext(services, { viewer: session?.viewer ?? null, clientIp: session?.clientIp ?? ctx.extra.clientIp, queueBound });
      transports.set(context, new SocketFrames(socket, id, format));
      return context;
    },
    onError: (_ctx, _id, _payload, errors) => format(errors),
    onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: format(result.errors) } : undefined),
  };
}
