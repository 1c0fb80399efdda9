import { execute, getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

/** How Parley executes operations (COMPILED_EXECUTION, COMPILED_EXECUTION_CACHE). */
export interface ExecutionOptions {
  /** Compile queries and subscription events with graphql-jit; off: graphql-js runs everything. */
  compiled: boolean;
  /** Compiled documents kept (least recently used go first). */
  cacheSize: number;
}

export interface Executor {
  /**
   * Executes an operation as graphql-js's `execute` would, answering the same result and errors.
   * `documentKey` names the document's text (Apollo's query hash) so that equal texts parsed twice
   * share one compilation; without it, the compilation is kept with the document object.
   */
  execute(args: ExecutionArgs, documentKey?: string): Promise<ExecutionResult> | ExecutionResult;
  /** Whether `execute` would run this operation compiled (for tests and diagnostics). */
  isCompiled(document: DocumentNode, operationName?: string | null): boolean;
}

/** Not compiled: runs on graphql-js (kept in the cache so the decision is made once). */
const INTERPRETED = Symbol('interpreted');
type Compiled = CompiledQuery | typeof INTERPRETED;

/**
 * Compiled execution: each query (and each subscription's per-event selection) is compiled once by
 * graphql-jit into a function that resolves exactly the fields the document selects, without
 * graphql-js's per-field interpretation, and cached by its text's hash (or its document object).
 *
 * Mutations run on graphql-js: their cost is their writes, and one executor for them keeps the
 * order of their root fields and their error paths exactly as graphql-js defines them. So does any
 * operation graphql-jit cannot compile, and any whose variables do not coerce (so the errors a
 * client sees are graphql-js's words, whichever executor is on).
 */
export function createExecutor(schema: GraphQLSchema, options: ExecutionOptions): Executor {
  const byKey = new LRUCache<string, Compiled>({ max: options.cacheSize });
  const byDocument = new WeakMap<DocumentNode, Map<string, Compiled>>();

  const compile = (document: DocumentNode, operationName: string | null | undefined): Compiled => {
    const operation = getOperationAST(document, operationName);
    if (!options.compiled || !operation || operation.operation === 'mutation') return INTERPRETED;
    const compiled = compileQuery(schema, document, operationName ?? undefined);
    return isCompiledQuery(compiled) ? compiled : INTERPRETED;
  };

  const compiledFor = (document: DocumentNode, operationName: string | null | undefined, documentKey: string | undefined): Compiled => {
    const name = operationName ?? '';
    if (documentKey !== undefined) {
      const key = `${documentKey}:${name}`;
      let found = byKey.get(key);
      if (found === undefined) byKey.set(key, (found = compile(document, operationName)));
      return found;
    }
    let byName = byDocument.get(document);
    if (!byName) byDocument.set(document, (byName = new Map()));
    let found = byName.get(name);
    if (found === undefined) byName.set(name, (found = compile(document, operationName)));
    return found;
  };

  return {
    execute(args, documentKey) {
      const compiled = compiledFor(args.document, args.operationName, documentKey);
      if (compiled === INTERPRETED) return execute(args);
      const result = compiled.query(args.rootValue, args.contextValue, args.variableValues ?? {});
      if (isPromise(result)) return result.then(withGraphqlErrors);
      // Variables that do not coerce: no resolver ran; graphql-js says what was wrong, in its words.
      if (result.data === undefined) return execute(args);
      return withGraphqlErrors(result);
    },
    isCompiled(document, operationName) {
      return compiledFor(document, operationName, undefined) !== INTERPRETED;
    },
  };
}

/**
 * graphql-jit's errors as graphql-js's own. Its GraphQLError passes `instanceof` but leaves
 * `extensions` undefined when what a resolver threw has none (a driver error, PostgreSQL away):
 * Apollo Server then fails to read the error's code and answers a bare internal error, so an
 * outage would not reach the client as SERVICE_UNAVAILABLE, nor reach the log with its cause.
 */
function withGraphqlErrors(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  const errors = result.errors.map((error) => {
    const own = new GraphQLError(error.message, { path: error.path, originalError: error.originalError ?? undefined, extensions: error.extensions ?? {} });
    if (error.locations) (own as { locations?: unknown }).locations = error.locations;
    return own;
  });
  return { ...result, errors };
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T>)?.then === 'function';
}
