import { performance } from 'node:perf_hooks';
import { getOperationAST, type ExecutionArgs, type GraphQLError, type GraphQLFormattedError, type GraphQLSchema, type ParseOptions, type ValidationRule } from 'graphql';
import { SpanKind } from '@opentelemetry/api';
import { WebSocket } from 'ws';
import { createContext, eventContext, type Context, type Services } from '../context';
import type { Executor } from '../execution/executor';
import type { Logger } from '../observability/logger';
import type { TrustedDocuments } from '../security/persisted-queries';
import type { QueryCost } from '../security/query-cost';
import { createWsAdmission } from '../security/ws-admission';
import type { QueueBound } from '../subscriptions/event-queue';
import { createSharedSubscribe } from '../subscriptions/shared-execution';
import type { Session } from './connections';
import type { ProtocolHooks } from './transport';

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


type OperationHooks = Pick<ProtocolHooks<Session>, 'start' | 'ended' | 'formatErrors'>;

/** The bound of every subscription queue of one socket: past it, the socket is dropped as a slow consumer. */
class SocketBound implements QueueBound {
  constructor(
    readonly limit: number,
    private readonly socket: WebSocket,
    private readonly drop: (socket: WebSocket) => void,
  ) {}

  onOverflow(): void {
    this.drop(this.socket);
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
  const formatErrors = (errors: readonly GraphQLError[]) => errors.map((e) => formatError(e.toJSON(), e));
  const execute = (args: ExecutionArgs) => executor.execute(args);
  const subscribe = createSharedSubscribe(schema, { execute, formatErrors, contextForEvent: (context) => eventContext(context as Context) });

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
    formatErrors,
    start: async (connection, operation, payload) => {
      const session = connection.session!;
      // Counts operations still being set up too, even those completed meanwhile: each holds a stream until it ends.
      const admission = admit(payload, connection.operations.size, session);
      if ('errors' in admission) return { refused: admission.errors };
      const { document, payload: admitted } = admission;
      const ast = getOperationAST(document, admitted.operationName)!;
      operation.type = ast.operation;
      operation.name = admitted.operationName ?? null;
      operation.field = ast.selectionSet.selections.find((s) => s.kind === 'Field')?.name.value ?? 'unknown';
      operation.startedAt = performance.now();
      session.queueBound ??= new SocketBound(limits.wsMaxQueuedEvents, connection.socket, dropSlowConsumer);
      const contextValue = createContext(services, { viewer: session.viewer, clientIp: connection.clientIp, queueBound: session.queueBound });
      const args: ExecutionArgs = { schema, document, operationName: admitted.operationName, variableValues: admitted.variables, contextValue };
      const answered = (errors: readonly unknown[] | undefined) =>
        metrics.operation('ws', operation.type, operation.name, errors?.length ? 'error' : 'ok', (performance.now() - operation.startedAt) / 1000);
      if (ast.operation !== 'subscription') {
        // Over WebSocket, an operation is the root of its trace (a socket carries no traceparent per message).
        const result = await services.tracing.inSpan(`${ast.operation} ${(operation.name ?? 'anonymous').slice(0, 100)}`, { kind: SpanKind.SERVER, attributes: { 'graphql.operation.type': ast.operation, 'parley.transport': 'ws' } }, () => execute(args));
        answered(result.errors);
        return { result };
      }
      const outcome = await subscribe(args, operation);
      if (!('stop' in outcome) && !(Symbol.asyncIterator in outcome)) {
        answered(outcome.errors);
        return { result: outcome };
      }
      // A live subscription is counted by the subscriptions gauge; its set-up time is not an
      // operation's latency and would skew the p95 the dashboard shows.
      // (A stream that already ended during its set-up is not counted: its end was.)
      if (!operation.finished) {
        operation.live = true;
        metrics.subscribed(operation.field);
      }
      return 'stop' in outcome ? { pushed: outcome } : { pulled: outcome };
    },
    ended: (_connection, operation) => {
      if (operation.live) metrics.unsubscribed(operation.field);
    },
  };
}
