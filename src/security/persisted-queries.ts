import { readFileSync } from 'node:fs';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import type { Request, RequestHandler, Response } from 'express';
import { Kind, parse, specifiedRules, validate, type GraphQLSchema, type OperationDefinitionNode, type ParseOptions, type ValidationRule } from 'graphql';
import type { Cluster, Redis } from 'ioredis';
import { AppError, ErrorCode } from '../errors';
import { sendGraphQLErrors } from './http-errors';
import type { QueryCost } from './query-cost';

/** The operations of an Apollo persisted-query manifest, by id (the sha256 of each body). */
export type TrustedDocuments = ReadonlyMap<string, string>;

/** Reads a manifest in Apollo's `apollo-persisted-query-manifest` format (`npm run manifest` writes one). */
export function loadManifest(path: string): TrustedDocuments {
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown; version?: unknown; operations?: unknown };
  if (manifest.format !== 'apollo-persisted-query-manifest' || manifest.version !== 1 || !Array.isArray(manifest.operations)) {
    throw new Error(`${path} is not an Apollo persisted-query manifest (format "apollo-persisted-query-manifest", version 1)`);
  }
  return new Map(
    manifest.operations.map((operation: { id?: unknown; body?: unknown }) => {
      if (typeof operation.id !== 'string' || typeof operation.body !== 'string') throw new Error(`${path}: every operation needs a string id and body`);
      return [operation.id, operation.body];
    }),
  );
}

/**
 * Checks every operation of a trusted manifest once, at start-up, as each request would be checked:
 * it parses, validates against the schema and the query limits, and costs at most the limit whatever
 * its variables (every variable page size at 100). Throws naming every operation that fails, so a
 * manifest that could never be served in full stops start-up instead of failing clients one by one.
 */
export function checkTrustedDocuments(
  documents: TrustedDocuments,
  { schema, validationRules, parseOptions, queryCost }: { schema: GraphQLSchema; validationRules: ValidationRule[]; parseOptions: ParseOptions; queryCost: QueryCost },
): void {
  const problems: string[] = [];
  for (const [id, body] of documents) {
    let name = `${id.slice(0, 12)}…`;
    try {
      const document = parse(body, parseOptions);
      const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      if (operations.length === 1 && operations[0].name) name = operations[0].name.value;
      const errors = validate(schema, document, [...specifiedRules, ...validationRules]);
      if (errors.length > 0) {
        problems.push(`${name}: ${errors.map((e) => e.message).join('; ')}`);
        continue;
      }
      for (const operation of operations) {
        const cost = queryCost.worstCase(document, operation.name?.value);
        const which = operations.length === 1 ? name : `${name} (operation ${operation.name?.value ?? 'without a name'})`;
        if (cost > queryCost.limit) problems.push(`${which} can cost ${cost} (every variable page size at 100), over QUERY_MAX_COST=${queryCost.limit}: give its nested lists literal page sizes or raise the limit`);
      }
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new Error(`The persisted-query manifest has operations this server would refuse:\n  - ${problems.join('\n  - ')}`);
}

interface GraphQLRequestFields {
  query?: unknown;
  extensions?: { persistedQuery?: { sha256Hash?: unknown } } & Record<string, unknown>;
}

/**
 * The document a trusted-mode request may run: the manifest's body for its
 * `extensions.persistedQuery.sha256Hash`. An unknown id is PERSISTED_QUERY_NOT_FOUND; a document
 * sent as text is PERSISTED_QUERY_NOT_ALLOWED, whatever it says. Shared by HTTP and WebSocket.
 */
export function trustedDocument(documents: TrustedDocuments, request: GraphQLRequestFields): string {
  const id = request.extensions?.persistedQuery?.sha256Hash;
  if (typeof id === 'string') {
    const body = documents.get(id);
    if (body === undefined) throw new AppError(ErrorCode.PERSISTED_QUERY_NOT_FOUND, `No operation ${JSON.stringify(id.slice(0, 80))} in this server's persisted-query manifest.`);
    return body;
  }
  throw new AppError(
    ErrorCode.PERSISTED_QUERY_NOT_ALLOWED,
    'This server runs only the operations of its persisted-query manifest: send extensions.persistedQuery.sha256Hash, not a document.',
  );
}

function withoutPersistedQuery(extensions: GraphQLRequestFields['extensions']) {
  const { persistedQuery: _persistedQuery, ...rest } = extensions ?? {};
  return rest;
}

/** As Apollo Server answers its own: an unknown id is 200 (never cached), any other refusal 400. */
function sendError(req: Request, res: Response, error: AppError): void {
  const code = error.extensions.code as string;
  if (code === ErrorCode.PERSISTED_QUERY_NOT_FOUND) res.setHeader('cache-control', 'private, no-cache, must-revalidate');
  sendGraphQLErrors(req, res, code === ErrorCode.PERSISTED_QUERY_NOT_FOUND ? 200 : 400, [{ message: error.message, extensions: { code } }]);
}

/**
 * Trusted mode on HTTP: replaces the request's id with the manifest's document before Apollo Server
 * sees it (POST body or GET query string), and refuses everything else. Apollo's own persisted
 * queries are off in this mode, so the extension is removed.
 */
export function trustedDocumentsMiddleware(documents: TrustedDocuments): RequestHandler {
  return (req, res, next) => {
    try {
      if (req.method === 'POST' && req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
        const body = req.body as GraphQLRequestFields;
        body.query = trustedDocument(documents, body);
        body.extensions = withoutPersistedQuery(body.extensions);
      } else if (req.method === 'GET') {
        const [pathname, search = ''] = req.url.split(/\?(.*)/s);
        const params = new URLSearchParams(search);
        const extensions = params.get('extensions');
        if (params.has('query') || extensions) {
          const parsed = extensions ? (JSON.parse(extensions) as GraphQLRequestFields['extensions']) : undefined;
          params.set('query', trustedDocument(documents, { extensions: parsed }));
          params.set('extensions', JSON.stringify(withoutPersistedQuery(parsed)));
          req.url = `${pathname}?${params}`;
        }
      }
      next();
    } catch (error) {
      if (error instanceof AppError) sendError(req, res, error);
      else if (error instanceof SyntaxError) sendError(req, res, new AppError(ErrorCode.BAD_REQUEST, 'The extensions parameter is not JSON.'));
      else next(error);
    }
  };
}

/**
 * Apollo's APQ cache in Redis, so a hash registered through one instance is known to all. While
 * Redis is down, slow or failing it behaves as an empty cache instead of failing or waiting
 * (commands time out, see REDIS_COMMAND_TIMEOUT): clients then simply send the full document again.
 */
export function createRedisApqCache(redis: Redis | Cluster, keyPrefix: string, onError: (error: unknown) => void): KeyValueCache<string> {
  const ready = () => redis.status === 'ready';
  const orElse = async <T>(fallback: T, command: () => Promise<T>): Promise<T> => {
    if (!ready()) return fallback;
    try {
      return await command();
    } catch (error) {
      onError(error);
      return fallback;
    }
  };
  return {
    get: (key) => orElse(undefined, async () => (await redis.get(keyPrefix + key)) ?? undefined),
    set: (key, value, options) =>
      orElse(undefined, async () => {
        if (options?.ttl) await redis.set(keyPrefix + key, value, 'EX', Math.ceil(options.ttl));
        else await redis.set(keyPrefix + key, value);
      }),
    delete: (key) => orElse(false, async () => (await redis.del(keyPrefix + key)) > 0),
  };
}
