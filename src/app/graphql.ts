import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import type { GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import type { Config } from '../config';
import { databaseUnavailable } from '../database/postgres-errors';
import { applyRateLimits } from '../directives/rate-limit.directive';
import { createFormatError } from '../errors';
import { createExecutor, type Executor } from '../execution/executor';
import { buildParleySchema } from '../schema';
import { checkTrustedDocuments, loadManifest, type TrustedDocuments } from '../security/persisted-queries';
import { createQueryCost, type QueryCost } from '../security/query-cost';
import { queryLimitRules, queryParseOptions } from '../security/query-limits';
import type { Backends } from './backends';

/** The executable schema and the rules every operation meets, shared by HTTP and WebSocket. */
export interface GraphqlRules {
  schema: GraphQLSchema;
  formatError: ReturnType<typeof createFormatError>;
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
  queryCost: QueryCost;
  /** Runs operations, compiled unless COMPILED_EXECUTION=off. */
  executor: Executor;
  /** Trusted mode: the manifest's operations, checked at start-up. */
  trustedDocuments?: TrustedDocuments;
}

/** Builds the schema with its rate limits, and the limits, cost model and error formatting both transports apply. */
export async function prepareGraphql(config: Config, { services, rateLimiter }: Pick<Backends, 'services' | 'rateLimiter'>): Promise<GraphqlRules> {
  const schema = applyRateLimits(await buildParleySchema({ pubSub: services.bus }), {
    ...config.rateLimits,
    limiter: rateLimiter,
    onRefused: services.metrics.rateLimited,
    byAddress: ['Mutation.signUp', 'Mutation.signIn', 'Mutation.refreshSession'],
  });
  const validationRules = queryLimitRules(config.limits.query);
  const parseOptions = queryParseOptions(config.limits.query);
  const queryCost = createQueryCost(schema, config.limits.query.cost);
  const trustedDocuments = config.persistedQueries.mode === 'trusted' ? loadManifest(config.persistedQueries.manifestPath) : undefined;
  if (trustedDocuments) checkTrustedDocuments(trustedDocuments, { schema, validationRules, parseOptions, queryCost });
  const format = createFormatError({ production: config.env === 'production', unavailable: databaseUnavailable });
  // Every error a client receives passes here, on both transports, refusals before any operation included.
  const formatError: GraphqlRules['formatError'] = (formatted, error) => {
    const sent = format(formatted, error);
    services.metrics.errorSent(sent.extensions?.code);
    return sent;
  };
  const executor = createExecutor(schema, config.execution);
  return { schema, formatError, validationRules, parseOptions, queryCost, executor, trustedDocuments };
}

/**
 * Plugs the executor into Apollo Server through its executor extension point (the interface Apollo
 * Gateway implements): Apollo still parses, caches and validates documents, runs every plugin
 * (limits, cost, persisted queries, metrics) and formats and masks errors; only execution is ours.
 * Compilations are cached by Apollo's hash of the document's text.
 */
export function executionGateway({ schema, executor }: Pick<GraphqlRules, 'schema' | 'executor'>): ApolloServerOptionsWithGateway<object>['gateway'] {
  let announce: ((schemaContext: { apiSchema: GraphQLSchema; coreSupergraphSdl: string }) => void) | undefined;
  return {
    onSchemaLoadOrUpdate(callback) {
      announce = callback;
      return () => (announce = undefined);
    },
    async load() {
      announce?.({ apiSchema: schema, coreSupergraphSdl: '' });
      return {
        executor: async ({ document, operationName, request, context, queryHash }) =>
          executor.execute({ schema, document, operationName, variableValues: request.variables, contextValue: context }, queryHash),
      };
    },
    async stop() {},
  };
}
