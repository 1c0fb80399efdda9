import type { GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import type { Config } from '../config';
import { databaseUnavailable } from '../database/postgres-errors';
import { applyRateLimits } from '../directives/rate-limit.directive';
import { createFormatError } from '../errors';
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
  /** Trusted mode: the manifest's operations, checked at start-up. */
  trustedDocuments?: TrustedDocuments;
}

/** Builds the schema with its rate limits, and the limits, cost model and error formatting both transports apply. */
export async function prepareGraphql(config: Config, { services, rateLimiter }: Pick<Backends, 'services' | 'rateLimiter'>): Promise<GraphqlRules> {
  const schema = applyRateLimits(await buildParleySchema({ pubSub: services.bus }), {
    ...config.rateLimits,
    limiter: rateLimiter,
    onRefused: services.metrics.rateLimited,
    byAddress: ['Mutation.signUp', 'Mutation.signIn'],
  });
  const validationRules = queryLimitRules(config.limits.query);
  const parseOptions = queryParseOptions(config.limits.query);
  const queryCost = createQueryCost(schema, config.limits.query.cost);
  const trustedDocuments = config.persistedQueries.mode === 'trusted' ? loadManifest(config.persistedQueries.manifestPath) : undefined;
  if (trustedDocuments) checkTrustedDocuments(trustedDocuments, { schema, validationRules, parseOptions, queryCost });
  const formatError = createFormatError({ production: config.env === 'production', unavailable: databaseUnavailable });
  return { schema, formatError, validationRules, parseOptions, queryCost, trustedDocuments };
}
