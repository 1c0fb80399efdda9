import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { relayStylePagination } from '@apollo/client/utilities';
import { generatePersistedQueryIdsFromManifest, type PersistedQueryManifestForGeneratingPersistedQueryIds } from '@apollo/persisted-query-lists';
import { createParleyClient, type ParleyClient } from '@parley/client';
import { ParleyWsLink } from '@parley/client/apollo';
import { OperationTypeNode } from 'graphql';

export interface ParleyApolloOptions {
  /** `https://parley.example.com/graphql`: HTTP, and WebSocket on the same path. */
  url: string;
  /** The signed-in user's token, or null; read for every request and at every (re)connect. */
  token: () => string | null;
  /** The server's persisted-query manifest (`npm run manifest`), the same file the server serves. */
  manifest: PersistedQueryManifestForGeneratingPersistedQueryIds;
  /** The socket's token was refused (4403): return a fresh one to resume, or null to end the subscriptions. */
  onAuthExpired?: () => Promise<string | null>;
  /** A WebSocket class where there is no global one (Node before 22: the `ws` package). */
  webSocketImpl?: unknown;
}

/**
 * Apollo Client 4 for Parley: queries and mutations over HTTP, subscriptions over graphql-ws through
 * the client helper (it resumes them after every reconnect by itself), persisted-query ids from the
 * manifest on both transports, and a cache that pages Relay connections.
 */
export function createParleyApolloClient({ url, token, manifest, onAuthExpired, webSocketImpl }: ParleyApolloOptions): { client: ApolloClient; parley: ParleyClient } {
  const parley = createParleyClient({
    url: url.replace(/^http/, 'ws'),
    token,
    onAuthExpired,
    webSocketImpl,
    // inboxUpdates cannot replay what changed while the socket was down: read the inbox again.
    onReconnected: ({ inbox }) => {
      if (inbox) void client.refetchQueries({ include: ['Inbox'] });
    },
  });

  // A server in production (PERSISTED_QUERIES=trusted) runs only the manifest's operations, by id;
  // an APQ server learns each document once. Before the split, so subscriptions carry the id too.
  const persistedQueries = new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest }));
  const authorization = new SetContextLink((context) => {
    const current = token();
    return current ? { headers: { ...context.headers, authorization: `Bearer ${current}` } } : {};
  });

  const client: ApolloClient = new ApolloClient({
    link: ApolloLink.from([
      persistedQueries,
      ApolloLink.split(
        (operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION,
        new ParleyWsLink(parley),
        ApolloLink.from([authorization, new HttpLink({ uri: url })]),
      ),
    ]),
    cache: new InMemoryCache({
      typePolicies: {
        Query: { fields: { conversations: relayStylePagination(['status']) } },
        Conversation: { fields: { messages: relayStylePagination(), members: relayStylePagination() } },
      },
    }),
  });
  return { client, parley };
}
