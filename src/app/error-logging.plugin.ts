import type { ApolloServerPlugin } from '@apollo/server';
import type { Context } from '../context';
import { databaseUnavailable } from '../database/postgres-errors';
import { isClientError } from '../errors';

/**
 * Logs every error that is not the client's fault, with the request id that the client saw in the
 * `x-request-id` header: the response itself carries no details in production.
 */
export function createErrorLoggingPlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ contextValue, errors, operationName }) {
          for (const error of errors) {
            if (isClientError(error)) continue;
            // An outage is not a bug: the client got SERVICE_UNAVAILABLE and retries; /readyz reports it.
            if (databaseUnavailable(error)) {
              contextValue.logger.warn({ err: error.originalError ?? error, path: error.path, operationName }, 'database unavailable');
              continue;
            }
            contextValue.logger.error({ err: error.originalError ?? error, path: error.path, operationName }, 'internal error');
          }
        },
      };
    },
  };
}
