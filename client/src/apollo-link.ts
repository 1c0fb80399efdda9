import { ApolloLink } from '@apollo/client/link';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { print } from '@apollo/client/utilities';
import type { GraphQLFormattedError } from 'graphql';
import { Observable } from 'rxjs';
import { isCloseEvent, type ParleyClient } from './parley-client';

/** The socket closed for good (graphql-ws gave up, or the token was refused and not renewed). */
export class SocketClosedError extends Error {
  override name = 'SocketClosedError';
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`The WebSocket closed with ${code}${reason ? `: ${reason}` : ''}.`);
  }
}

/**
 * The terminating Apollo Link for subscriptions (and anything else sent over the socket), on the
 * Parley client helper: `useSubscription` and `client.subscribe` resume after reconnects with no
 * code of their own. Put a `PersistedQueryLink` before it: its `extensions.persistedQuery` travels
 * in the subscribe message, beside the document, so one client works in every server mode.
 * A refused subscribe reaches the subscriber as `CombinedGraphQLErrors` with the server's
 * `extensions.code`; a close it cannot recover from as `SocketClosedError`.
 */
export class ParleyWsLink extends ApolloLink {
  constructor(private readonly parley: ParleyClient) {
    super();
  }

  override request(operation: ApolloLink.Operation): Observable<ApolloLink.Result> {
    return new Observable<ApolloLink.Result>((observer) =>
      this.parley.subscribe(
        { query: print(operation.query), variables: operation.variables, operationName: operation.operationName, extensions: operation.extensions },
        {
          next: (result) => observer.next(result as ApolloLink.Result),
          complete: () => observer.complete(),
          error: (error: unknown) => observer.error(toLinkError(error)),
        },
        operation.query,
      ),
    );
  }
}

function toLinkError(error: unknown): Error {
  if (error instanceof Error) return error;
  if (isCloseEvent(error)) return new SocketClosedError(error.code, error.reason);
  return new CombinedGraphQLErrors({ errors: (Array.isArray(error) ? error : [error]) as GraphQLFormattedError[] });
}
