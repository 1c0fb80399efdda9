import type { ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { AsyncQueue } from './async-queue';

export interface TestSubscription {
  /** The next result, buffered if it already arrived. */
  next(timeoutMs?: number): Promise<ExecutionResult>;
  /** Takes every result that arrived and was not taken yet. */
  drain(): ExecutionResult[];
  /** Resolves when the server completes the operation, with its error if it ended with one; fails after `timeoutMs`. */
  finished(timeoutMs?: number): Promise<{ error?: unknown }>;
  unsubscribe(): void;
}

export interface TestWsClient {
  client: Client;
  /** Resolves with the close event once the socket closes. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once the server acknowledged `connection_init`. */
  connected: Promise<void>;
  /** `extensions` travel in the subscribe message (persisted-query ids, for trusted mode). */
  subscribe(query: string, variables?: Record<string, unknown>, extensions?: Record<string, unknown>): TestSubscription;
  /** Runs a query or mutation over the socket and returns its single result. */
  execute(query: string, variables?: Record<string, unknown>): Promise<ExecutionResult>;
  dispose(): Promise<void>;
}

/** A graphql-ws client that never retries, so tests see every close code the server sends. */
export function connectWs(url: string, { token, authorization }: { token?: string; authorization?: string } = {}): TestWsClient {
  let onClosed!: (event: { code: number; reason: string }) => void;
  let onConnected!: () => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (onClosed = resolve));
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined,
    connectionParams: authorization ? { authorization } : token ? { authorization: `Bearer ${token}` } : {},
    on: {
      connected: () => onConnected(),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason: String(reason) });
      },
    },
  });

  const subscribe = (query: string, variables?: Record<string, unknown>, extensions?: Record<string, unknown>): TestSubscription => {
    const results = new AsyncQueue<ExecutionResult>();
    let finish!: (outcome: { error?: unknown }) => void;
    const done = new Promise<{ error?: unknown }>((resolve) => (finish = resolve));
    const unsubscribe = client.subscribe(
      { query, variables, extensions },
      { next: (result) => results.push(result as ExecutionResult), error: (error) => finish({ error }), complete: () => finish({}) },
    );
    const finished = (timeoutMs = 5_000) =>
      Promise.race([
        done,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`operation did not end within ${timeoutMs} ms`)), timeoutMs).unref()),
      ]);
    return { next: (timeoutMs) => results.next(timeoutMs, `a result of ${query.slice(0, 60)}`), drain: () => results.drain(), finished, unsubscribe };
  };

  return {
    client,
    closed,
    connected,
    subscribe,
    async execute(query, variables) {
      const subscription = subscribe(query, variables);
      const outcome = await Promise.race([subscription.next(), subscription.finished().then(({ error }) => Promise.reject(error))]);
      return outcome;
    },
    dispose: () => client.dispose() as Promise<void>,
  };
}
