import type { ApolloServerPlugin } from '@apollo/server';
import type { QueryCost } from './query-cost';

/**
 * The query cost on HTTP: checked once the operation is resolved and before execution, with the
 * request's variables (WebSocket does the same in ws-admission.ts). Over the limit is
 * QUERY_TOO_COMPLEX with HTTP 400, and no resolver runs.
 */
export function queryCostPlugin(queryCost: QueryCost): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operationName, request }) {
          const refusal = queryCost.check(document, operationName, request.variables);
          if (refusal) throw refusal;
        },
      };
    },
  };
}
