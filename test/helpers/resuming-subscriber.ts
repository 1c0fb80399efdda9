import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { operation } from './operations';

export interface ResumingSubscriber {
  /** Seqs of the MessageAdded events received, in arrival order (duplicates kept, to be caught). */
  seqs: number[];
  /** The x-parley-instance of every socket it opened, in order. */
  instances: string[];
  /** Resolves once the first connection is acknowledged. */
  subscribed: Promise<void>;
  /** The instance of the current socket. */
  current(): string | undefined;
  client: Client;
}

/**
 * A chat client as the demo is one: reconnects forever, and resumes each time right after the last
 * stored event it received — graphql-ws resends the subscribe payload at every reconnect, with
 * `variables` as they are then (docs/client-guide.md).
 */
export function resumingSubscriber(wsUrl: string, token: string, conversationId: string): ResumingSubscriber {
  const seqs: number[] = [];
  const instances: string[] = [];
  const variables = { conversationId, afterSeq: 0 };
  class TrackedSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      this.on('upgrade', (response) => instances.push(String(response.headers['x-parley-instance'])));
    }
  }
  const client = createClient({
    url: wsUrl,
    webSocketImpl: TrackedSocket,
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200)),
    onNonLazyError: () => undefined,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  let connected!: () => void;
  const subscribed = new Promise<void>((resolve) => (connected = resolve));
  client.on('connected', () => connected());
  client.subscribe(
    { query: operation('ConversationEvents'), variables },
    {
      next: (result) => {
        const event = (result.data as { conversationEvents: { __typename: string; seq: number } } | undefined)?.conversationEvents;
        if (event?.__typename !== 'MessageAdded') return;
        seqs.push(event.seq);
        variables.afterSeq = Math.max(variables.afterSeq, event.seq);
      },
      error: () => undefined,
      complete: () => undefined,
    },
  );
  return { seqs, instances, subscribed, current: () => instances.at(-1), client };
}

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs` with `what()`. */
export async function waitFor(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
