import { getOperationAST, getVariableValues, GraphQLError, NoSchemaIntrospectionCustomRule, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type ParseOptions, type ValidationRule } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { LRUCache } from 'lru-cache';
import { AppError, ErrorCode, isTokenLimitError } from '../errors';
import { nulCharacterError, nulCharacterIn } from './operation-guards.plugin';
import type { QueryCost } from './query-cost';
import { trustedDocument, type TrustedDocuments } from './persisted-queries';

export interface WsAdmissionOptions {
  schema: GraphQLSchema;
  /** The HTTP side's limits (depth, aliases, directives). */
  validationRules: ValidationRule[];
  /** The HTTP side's cost model and limit, applied with each subscribe's variables. */
  queryCost: QueryCost;
  /** No introspection, as Apollo Server refuses it on HTTP in production. */
  production: boolean;
  /** The HTTP side's parse options (token limit). */
  parseOptions: ParseOptions;
  /** Trusted mode: only these operations run, sent by id. */
  trustedDocuments?: TrustedDocuments;
  /** Active subscriptions one socket may hold. */
  subscriptionsPerSocket: number;
  /** Subscribe messages one socket may send per second. */
  subscribesPerSecond: number;
}

/** Per-socket bookkeeping of subscribe messages, for the per-second cap. */
export interface SubscribeBudget {
  windowStart: number;
  used: number;
}

export type Admission = { document: DocumentNode; payload: SubscribePayload } | { errors: readonly GraphQLError[] };

const tooMany = (message: string) => new AppError(ErrorCode.RATE_LIMITED, message, { retryAfterSeconds: 1 });

/**
 * What graphql-ws `onSubscribe` decides for one subscribe message, with the same rules as HTTP:
 * the per-socket caps, trusted documents, the token limit while parsing, validation with the
 * query limits, then the cost with the message's variables. Refusals are GraphQL errors for that operation; the socket stays open.
 */
export function createWsAdmission(options: WsAdmissionOptions) {
  const rules = [...specifiedRules, ...options.validationRules, ...(options.production ? [NoSchemaIntrospectionCustomRule] : [])];
  // Thousands of clients send the same few documents: parse and validate each once, and share the
  // AST (read-only to graphql-js) between their subscriptions.
  // The key's own string is kept too: every subscriber's payload then points at one copy of the text.
  // Parsed documents by text: bounded in count, and one not used for an hour is parsed again if it returns.
  const admitted = new LRUCache<string, { document: DocumentNode; query: string }>({ max: 1_000, ttl: 3_600_000, updateAgeOnGet: true });
  return (payload: SubscribePayload, activeSubscriptions: number, budget: SubscribeBudget, now = Date.now()): Admission => {
    if (now - budget.windowStart >= 1000) Object.assign(budget, { windowStart: now, used: 0 });
    budget.used += 1;
    if (budget.used > options.subscribesPerSecond) {
      return { errors: [tooMany(`At most ${options.subscribesPerSecond} subscribe messages per second on one connection.`)] };
    }
    if (activeSubscriptions > options.subscriptionsPerSocket) {
      // No retryAfterSeconds: waiting frees nothing, completing a subscription does.
      return { errors: [new AppError(ErrorCode.RATE_LIMITED, `At most ${options.subscriptionsPerSocket} active subscriptions on one connection; complete one first.`)] };
    }
    let query = payload.query;
    if (options.trustedDocuments) {
      try {
        query = trustedDocument(options.trustedDocuments, payload as Parameters<typeof trustedDocument>[1]);
      } catch (error) {
        if (error instanceof AppError) return { errors: [error] };
        throw error;
      }
    }
    const known = admitted.get(query);
    if (known) return operationOf(known.document, payload, known.query, options);
    let document: DocumentNode;
    try {
      document = parse(query, options.parseOptions);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      if (isTokenLimitError(error)) return { errors: [new AppError(ErrorCode.QUERY_TOO_COMPLEX, error.message)] };
      return { errors: [new GraphQLError(error.message, { extensions: { code: ErrorCode.GRAPHQL_PARSE_FAILED } })] };
    }
    const errors = validate(options.schema, document, rules);
    if (errors.length > 0) {
      return { errors: errors.map((e) => (e.extensions.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: ErrorCode.GRAPHQL_VALIDATION_FAILED } }))) };
    }
    admitted.set(query, { document, query });
    return operationOf(document, payload, query, options);
  };
}

function operationOf(document: DocumentNode, payload: SubscribePayload, query: string, { schema, queryCost }: WsAdmissionOptions): Admission {
  const operation = getOperationAST(document, payload.operationName);
  if (!operation) {
    const message = payload.operationName ? `Unknown operation named "${payload.operationName}".` : 'Must provide an operation name when the document has several.';
    return { errors: [new AppError(ErrorCode.OPERATION_RESOLUTION_FAILURE, message)] };
  }
  const nul = nulCharacterIn(document, payload.variables);
  if (nul) return { errors: [nulCharacterError(nul)] };
  // As Apollo Server does on HTTP: variables that do not fit their types are the client's error.
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], payload.variables ?? {}, { maxErrors: 10 });
  if (coerced.errors) return { errors: coerced.errors.map((error) => new AppError(ErrorCode.BAD_USER_INPUT, error.message)) };
  const tooCostly = queryCost.check(document, payload.operationName, payload.variables ?? undefined);
  if (tooCostly) return { errors: [tooCostly] };
  return { document, payload: { ...payload, query } };
}
