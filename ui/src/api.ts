import { createParleyClient, isCloseEvent, type ParleyClient, type Refetch } from '@parley/client';
import manifest from '../../persisted-query-manifest.json';

/**
 * The browser side of Parley for the dashboard and the demo: the operations of operations/*.graphql,
 * as `npm run manifest` wrote them, sent by their manifest id. That is all a server in trusted mode
 * (PERSISTED_QUERIES=trusted) runs; an APQ server that has not seen an id yet answers
 * PERSISTED_QUERY_NOT_FOUND and gets the document once, as Apollo's APQ link does.
 */

interface Operation {
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
}

const operations = new Map<string, Operation>((manifest.operations as Operation[]).map((operation) => [operation.name, operation]));

function operation(name: string): Operation {
  const found = operations.get(name);
  if (!found) throw new Error(`No operation ${name} in persisted-query-manifest.json`);
  return found;
}

/** A GraphQL error, with the stable `extensions.code` the README lists. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface GraphQLError {
  message: string;
  extensions?: { code?: string };
}

function failure(errors: readonly GraphQLError[]): ApiError {
  return new ApiError(errors.map((e) => e.message).join('; '), errors[0]?.extensions?.code);
}

/** The signed-in user's token, per browser tab (two tabs can be two people). */
export const session = {
  get token(): string | null {
    return sessionStorage.getItem('parley.token');
  },
  set token(value: string | null) {
    if (value) sessionStorage.setItem('parley.token', value);
    else sessionStorage.removeItem('parley.token');
  },
};

const endpoint = () => `${location.origin}/graphql`;

/** Runs a query or mutation over HTTP. */
export async function request<T>(name: string, variables: Record<string, unknown> = {}): Promise<T> {
  const op = operation(name);
  const post = async (body: Record<string, unknown>) => {
    const response = await fetch(endpoint(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(session.token ? { authorization: `Bearer ${session.token}` } : {}) },
      body: JSON.stringify({ operationName: op.name, variables, ...body }),
    });
    return (await response.json()) as { data?: T; errors?: GraphQLError[] };
  };
  const persisted = { extensions: { persistedQuery: { version: 1, sha256Hash: op.id } } };
  let result = await post(persisted);
  const code = result.errors?.[0]?.extensions?.code;
  if (code === 'PERSISTED_QUERY_NOT_FOUND') result = await post({ ...persisted, query: op.body });
  else if (code === 'PERSISTED_QUERY_NOT_SUPPORTED') result = await post({ query: op.body });
  if (result.errors?.length) throw failure(result.errors);
  return result.data as T;
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting';

/**
 * One WebSocket for the page, through Parley's client helper (client/): it reconnects for as long as
 * the page is open and resumes every conversationEvents subscription from the last event received,
 * dropping replayed duplicates. After a reconnect, `onReconnected` says what could not be resumed
 * (the inbox, presence). A refused token (4403) signs the tab out.
 */
export function connect(onState: (state: ConnectionState) => void, onSignedOut: () => void, onReconnected: (refetch: Refetch) => void): ParleyClient {
  let everConnected = false;
  return createParleyClient({
    url: endpoint().replace(/^http/, 'ws'),
    token: () => session.token,
    onReconnected,
    graphqlWs: {
      lazy: false,
      onNonLazyError: () => undefined,
      on: {
        connecting: () => onState(everConnected ? 'reconnecting' : 'connecting'),
        connected: () => {
          everConnected = true;
          onState('connected');
        },
        closed: (event) => {
          if (isCloseEvent(event) && event.code === 4403) {
            session.token = null;
            return onSignedOut();
          }
          onState(everConnected ? 'reconnecting' : 'connecting');
        },
      },
    },
  });
}

/** Subscribes by manifest id (the document goes along for servers not in trusted mode). */
export function subscribe<T>(client: ParleyClient, name: string, variables: Record<string, unknown>, next: (data: T) => void, onError: (error: ApiError) => void): () => void {
  const op = operation(name);
  return client.subscribe<T>(
    { operationName: op.name, query: op.body, variables, extensions: { persistedQuery: { version: 1, sha256Hash: op.id } } },
    {
      next: (result) => {
        if (result.errors?.length) onError(failure(result.errors as GraphQLError[]));
        else if (result.data) next(result.data);
      },
      error: (error) => onError(Array.isArray(error) ? failure(error as GraphQLError[]) : new ApiError(error instanceof Error ? error.message : 'The subscription failed.', undefined)),
      complete: () => undefined,
    },
  );
}

export interface Viewer {
  id: string;
  handle: string;
  displayName: string;
  role?: string;
}

/** Signs in (or up, with `email`) and keeps the token for this tab. */
export async function signIn(login: string, password: string, signUp?: { email: string; displayName: string }): Promise<Viewer> {
  const result = signUp
    ? (await request<{ signUp: { token: string; user: Viewer } }>('SignUp', { input: { handle: login, password, ...signUp } })).signUp
    : (await request<{ signIn: { token: string; user: Viewer } }>('SignIn', { input: { login, password } })).signIn;
  session.token = result.token;
  return result.user;
}
