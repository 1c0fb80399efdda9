import { createClient, type Client, type ClientOptions, type FormattedExecutionResult, type Sink, type SubscribePayload } from 'graphql-ws';
import type { DocumentNode } from 'graphql';
import { argumentValue, classify, type OperationKind } from './operation-kind';

/** A bearer token, or nothing for an anonymous connection. */
export type Token = string | null | undefined;

/** What a reconnect could not resume: read it again. */
export interface Refetch {
  /** An `inboxUpdates` subscription was active: what changed while away is not replayed, so read the inbox again. */
  inbox: boolean;
  /** Conversations with an active `presence` subscription: read their members' `online` again. */
  presence: string[];
  /**
   * Conversations whose `conversationEvents` subscription could not resume: it has no resume point yet
   * (subscribed without `afterSeq`, and no stored event received since), or it cannot be resumed at
   * all (`afterSeq` not passed as a variable, or `seq` not selected). Read their latest messages again.
   */
  conversations: string[];
}

export interface ParleyClientOptions {
  /** `wss://host/graphql`; a function is asked at every connect. */
  url: string | (() => string | Promise<string>);
  /** The bearer token sent in `connection_init`, asked at every connect; null or undefined: anonymous. */
  token?: () => Token | Promise<Token>;
  /**
   * The server refused the token (close 4403: expired, signed out, or the account was erased). The
   * helper stops retrying with it and asks this for a fresh one: return it to reconnect and resume
   * every subscription, or null to give up (every subscription then ends with the close event as
   * its error). Without this option, a 4403 ends every subscription at once.
   */
  onAuthExpired?: () => Token | Promise<Token>;
  /**
   * A `ResyncRequired` arrived: more events were missed than the server replays (REPLAY_LIMIT).
   * Reload the conversation's history. The event is also passed on to the subscription.
   */
  onResync?: (resync: { conversationId: string | undefined; fromSeq: number }) => void;
  /** The socket reconnected and every subscription was resumed; `refetch` says what could not be. */
  onReconnected?: (refetch: Refetch) => void;
  /** A WebSocket class, for runtimes without a global one (Node < 22: the `ws` package). */
  webSocketImpl?: unknown;
  /** Waits before reconnect attempt `retries` (0, 1, …). Default: 0.25 s doubling to 10 s, with jitter. */
  retryWait?: (retries: number) => Promise<void>;
  /** Anything else graphql-ws's `createClient` takes (keepAlive, lazy, on, …). */
  graphqlWs?: Omit<Partial<ClientOptions>, 'url' | 'connectionParams' | 'webSocketImpl' | 'retryAttempts' | 'retryWait' | 'shouldRetry'>;
}

export interface ParleyClient {
  /**
   * graphql-ws's `subscribe`, with gap-free resume for `conversationEvents`: each such subscription
   * keeps the seq of the last stored event it passed on, resubscribes from it after any reconnect,
   * drops replayed duplicates and passes ephemeral events (`seq: null`) through. Returns the
   * function that ends the subscription.
   */
  subscribe<Data = Record<string, unknown>>(payload: SubscribePayload, sink: Sink<FormattedExecutionResult<Data>>, document?: DocumentNode): () => void;
  /** The graphql-ws client underneath (its `on(…)` events, `terminate()`). */
  readonly client: Client;
  /** Ends every subscription and closes the socket. */
  dispose(): Promise<void>;
}

/** graphql-ws reports closes as the socket's close event, which has a code. */
export const isCloseEvent = (value: unknown): value is { code: number; reason: string } =>
  typeof value === 'object' && value !== null && 'code' in value && typeof (value as { code: unknown }).code === 'number';

const FORBIDDEN = 4403;

interface Tracked {
  /** Sent at every (re)subscribe; its `variables` are the helper's own copy, moved forward as events arrive. */
  payload: SubscribePayload & { variables: Record<string, unknown> };
  operation: OperationKind;
  sink: Sink<FormattedExecutionResult<never>>;
  /** Seq of the last stored event passed on; null until one is (or afterSeq was given). */
  lastSeq: number | null;
  /** The subscription on the graphql-ws client, while one runs. */
  stop?: () => void;
  /** Ended by the application or for good: never restarted. */
  ended: boolean;
  /** Set while a refused subscribe waits to be sent again. */
  retry?: ReturnType<typeof setTimeout>;
  /**
   * The server refused to set the subscription up for a while (its answer was a result with no data
   * and one SERVICE_UNAVAILABLE or RATE_LIMITED error): the seconds to wait, once it completes.
   */
  refusedFor?: number;
}

/**
 * A graphql-ws client for Parley that resumes by itself (ARCHITECTURE.md, delivery contract 10): no
 * application code keeps seqs. It reconnects for as long as it has subscriptions, with backoff.
 */
export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  const active = new Set<Tracked>();
  /** Waits in progress (reconnect backoff); dispose ends them at once instead of waiting them out. */
  const waits = new Set<() => void>();
  /** The default backoff's timers, which dispose clears so that nothing keeps a process alive. */
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const retryWait =
    options.retryWait ??
    ((retries: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, Math.min(250 * 2 ** retries, 10_000) * (0.5 + Math.random() / 2));
        timers.add(timer);
      }));
  let refreshedToken: Token;
  let everConnected = false;
  /** A socket closed under live subscriptions: the next connect is a reconnect to report. */
  let interrupted = false;
  /** 4403s in a row without a connection that was accepted: the backoff before trying a new token. */
  let refusals = 0;
  let reauthenticating: Promise<void> | undefined;

  const cancellable = (waiting: Promise<void>) =>
    new Promise<void>((resolve) => {
      const done = () => {
        waits.delete(done);
        resolve();
      };
      waits.add(done);
      waiting.then(done, done);
    });

  const client = createClient({
    lazy: true,
    ...options.graphqlWs,
    url: options.url,
    webSocketImpl: options.webSocketImpl,
    connectionParams: async () => {
      // The token onAuthExpired gave is used for the next connect; later ones ask `token()` again.
      const token = refreshedToken ?? (await options.token?.());
      refreshedToken = undefined;
      return token ? { authorization: `Bearer ${token}` } : {};
    },
    retryAttempts: Infinity,
    retryWait: (retries) => cancellable(retryWait(retries)),
    // A refused token would be refused again: 4403 ends the connection's subscriptions, and the
    // helper decides (onAuthExpired) whether to start them again.
    shouldRetry: (event) => !(isCloseEvent(event) && event.code === FORBIDDEN),
  });

  client.on('closed', () => {
    // Not when the app ended its last subscription (the lazy socket closes then): nothing was cut.
    if (everConnected && active.size > 0) interrupted = true;
  });
  client.on('connected', () => {
    everConnected = true;
    refusals = 0;
    if (!interrupted) return;
    interrupted = false;
    // After graphql-ws has sent the subscribe messages again, so the app's reads follow them.
    setTimeout(() => options.onReconnected?.(refetchAfterReconnect()), 0);
  });

  const refetchAfterReconnect = (): Refetch => {
    const refetch: Refetch = { inbox: false, presence: [], conversations: [] };
    for (const { operation, payload, lastSeq } of active) {
      if (operation.kind === 'inboxUpdates') refetch.inbox = true;
      else if (operation.kind === 'presence') pushDefined(refetch.presence, argumentValue(operation.conversationId, payload.variables));
      else if (operation.kind === 'conversationEvents' && (lastSeq === null || !operation.afterSeqVariable)) pushDefined(refetch.conversations, argumentValue(operation.conversationId, payload.variables));
    }
    return refetch;
  };

  const received = (tracked: Tracked, result: FormattedExecutionResult<never>) => {
    const { operation } = tracked;
    // A subscription whose set-up failed answers with one result and completes (GraphQL over
    // WebSocket); when waiting cures the failure, the helper subscribes again instead.
    const refusedFor = result.data == null ? retryAfterSeconds(result.errors) : undefined;
    if (refusedFor !== undefined) {
      tracked.refusedFor = refusedFor;
      return;
    }
    if (operation.kind === 'conversationEvents') {
      const event = (result.data as Record<string, { __typename?: string; seq?: number | null; fromSeq?: number } | null> | null | undefined)?.[operation.key];
      if (typeof event?.seq === 'number' && operation.afterSeqVariable) {
        // A stored event at or before the last one passed on is a replay overlapping it.
        if (tracked.lastSeq !== null && event.seq <= tracked.lastSeq) return;
        tracked.lastSeq = event.seq;
        tracked.payload.variables[operation.afterSeqVariable] = event.seq;
      } else if (event?.__typename === 'ResyncRequired' && typeof event.fromSeq === 'number') {
        options.onResync?.({ conversationId: argumentValue(operation.conversationId, tracked.payload.variables), fromSeq: event.fromSeq });
      }
    }
    tracked.sink.next(result);
  };

  const end = (tracked: Tracked) => {
    tracked.ended = true;
    clearTimeout(tracked.retry);
    active.delete(tracked);
  };

  const retryLater = (tracked: Tracked, seconds: number) => {
    tracked.retry = setTimeout(() => {
      tracked.retry = undefined;
      if (!tracked.ended) start(tracked);
    }, seconds * 1000 * (1 + Math.random() / 2));
  };

  const start = (tracked: Tracked) => {
    tracked.refusedFor = undefined;
    tracked.stop = client.subscribe<never, Record<string, unknown>>(tracked.payload, {
      next: (result) => received(tracked, result),
      error: (error) => {
        tracked.stop = undefined;
        if (tracked.ended) return;
        if (isCloseEvent(error) && error.code === FORBIDDEN && options.onAuthExpired) return void reauthenticate(error);
        // Too many subscribes at once on the new socket (a reconnect re-sends them all): try again later.
        const retryAfter = retryAfterSeconds(error);
        if (retryAfter !== undefined) return retryLater(tracked, retryAfter);
        end(tracked);
        tracked.sink.error(error);
      },
      complete: () => {
        tracked.stop = undefined;
        if (tracked.ended) return;
        if (tracked.refusedFor !== undefined) return retryLater(tracked, tracked.refusedFor);
        end(tracked);
        tracked.sink.complete();
      },
    });
  };

  /**
   * One onAuthExpired for every subscription the 4403 ended; they start again together (after a
   * backoff that grows while tokens keep being refused), or end together.
   */
  const reauthenticate = (refusal: unknown) =>
    (reauthenticating ??= (async () => {
      let token: Token;
      try {
        token = await options.onAuthExpired!();
      } catch {
        token = null;
      }
      if (token) await cancellable(retryWait(refusals++));
      reauthenticating = undefined;
      const waiting = [...active].filter((tracked) => !tracked.stop && tracked.retry === undefined);
      if (token) {
        refreshedToken = token;
        waiting.forEach(start);
      } else {
        for (const tracked of waiting) {
          end(tracked);
          tracked.sink.error(refusal);
        }
      }
    })());

  return {
    client,
    subscribe(payload, sink, document) {
      const operation = classify(document ?? payload.query, payload.operationName);
      const variables = { ...payload.variables };
      const afterSeq = operation.kind === 'conversationEvents' && operation.afterSeqVariable ? variables[operation.afterSeqVariable] : undefined;
      const tracked: Tracked = {
        payload: { ...payload, variables },
        operation,
        sink: sink as Sink<FormattedExecutionResult<never>>,
        lastSeq: typeof afterSeq === 'number' ? afterSeq : null,
        ended: false,
      };
      active.add(tracked);
      start(tracked);
      return () => {
        if (tracked.ended) return;
        end(tracked);
        tracked.stop?.();
      };
    },
    async dispose() {
      for (const tracked of [...active]) {
        end(tracked);
        tracked.stop?.();
      }
      for (const timer of timers) clearTimeout(timer);
      for (const done of [...waits]) done();
      // graphql-ws waits for a connection attempt in flight, which may have failed already.
      await Promise.resolve(client.dispose()).catch(() => undefined);
    },
  };
}

/** Refusals that waiting cures, when they say how long to wait. */
const TRANSIENT = new Set(['RATE_LIMITED', 'SERVICE_UNAVAILABLE']);

/** The `retryAfterSeconds` of a lone refusal that waiting cures, else undefined. */
function retryAfterSeconds(errors: unknown): number | undefined {
  if (!Array.isArray(errors) || errors.length !== 1) return undefined;
  const extensions = (errors[0] as { extensions?: { code?: unknown; retryAfterSeconds?: unknown } }).extensions;
  return typeof extensions?.code === 'string' && TRANSIENT.has(extensions.code) && typeof extensions.retryAfterSeconds === 'number' ? extensions.retryAfterSeconds : undefined;
}

function pushDefined(list: string[], value: string | undefined): void {
  if (value !== undefined && !list.includes(value)) list.push(value);
}
