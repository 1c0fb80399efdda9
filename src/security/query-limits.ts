import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { GraphQLError, type ParseOptions, type ValidationContext, type ValidationRule } from 'graphql';
import type { Config } from '../config';
import { AppError, ErrorCode } from '../errors';

export type QueryLimits = Config['limits']['query'];

/**
 * Reports a GraphQL Armor rejection as QUERY_TOO_COMPLEX, without throwing, so it is a 400 like any
 * validation error. (Armor calls it a "Syntax Error"; it is not one.)
 */
const reject = [
  (context: ValidationContext | null, error: GraphQLError) =>
    context?.reportError(new AppError(ErrorCode.QUERY_TOO_COMPLEX, error.message.replace(/^Syntax Error: /, ''))),
];

/**
 * The validation rules every operation passes on HTTP and on WebSocket alike: GraphQL Armor's
 * depth, alias and directive limits. (The cost limit needs variable values, so it is not a
 * validation rule: see query-cost.ts. Introspection is refused in production by Apollo Server's own
 * rule on HTTP and by NoSchemaIntrospectionCustomRule in ws-admission.ts.)
 */
export function queryLimitRules(limits: QueryLimits): ValidationRule[] {
  const armor = { propagateOnRejection: false, onReject: reject };
  return [
    maxDepthRule({ n: limits.depth, ignoreIntrospection: true, flattenFragments: true, ...armor }),
    maxAliasesRule({ n: limits.aliases, ...armor }),
    maxDirectivesRule({ n: limits.directives, ...armor }),
  ];
}

/** Parsing stops at `tokens` tokens, so a huge document costs little to refuse. */
export function queryParseOptions(limits: QueryLimits): ParseOptions {
  return { maxTokens: limits.tokens };
}
