import type { ApolloServerPlugin } from '@apollo/server';
import { SpanKind } from '@opentelemetry/api';
import type { Context } from '../context';
import type { Tracing } from '../observability/tracing';

/**
 * One span per GraphQL operation over HTTP, named by its type and name (`mutation SendMessage`),
 * not one per field: fields are many and cheap, and the statements they cause are spans of their own.
 */
export function createTracingPlugin(tracing: Tracing): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      const open = tracing.start('graphql', { kind: SpanKind.INTERNAL });
      return {
        async didResolveOperation({ operation, operationName }) {
          const type = operation?.operation ?? 'unknown';
          // A client picks the name: bounded, so a span name cannot carry a payload.
          const name = (operationName ?? 'anonymous').slice(0, 100);
          open?.span.updateName(`${type} ${name}`);
          open?.span.setAttributes({ 'graphql.operation.type': type, 'graphql.operation.name': name });
        },
        async willSendResponse({ errors }) {
          if (errors?.length) open?.span.setAttribute('graphql.errors', errors.length);
          open?.end(errors?.length ? errors[0] : undefined);
        },
      };
    },
  };
}
