import type { ApolloServerPlugin } from '@apollo/server';
import type { Context } from '../context';
import type { Metrics } from '../observability/metrics';

/** Counts and times every HTTP operation by type, name and outcome (errors in the response or not). */
export function createMetricsPlugin(metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      const startedAt = process.hrtime.bigint();
      return {
        async willSendResponse({ operation, operationName, errors }) {
          const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
          metrics.operation('http', operation?.operation ?? 'invalid', operationName, errors?.length ? 'error' : 'ok', seconds);
        },
      };
    },
  };
}
