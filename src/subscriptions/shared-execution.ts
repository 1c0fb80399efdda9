import {
  createSourceEventStream,
  execute,
  getOperationAST,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';

/**
 * `@Extensions(viewerDependent)` marks fields whose value depends on who asks (User.email,
 * viewerHasReacted, unreadCount, lists filtered by membership): a subscription selecting one runs
 * per subscriber.
 */
export const viewerDependent = { viewerDependent: true } as const;

interface Analysis {
  /** Names this document and operation among those analysed (keys stay short however long the document). */
  id: number;
  /** False when a field depends on the viewer: the document runs per subscriber. */
  shareable: boolean;
  /** Variables used below the root field, sorted. */
  variables: string[];
}

let analysed = 0;

function analyse(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): Analysis | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const rootField = operation.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  let dependsOnViewer = false;
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        if (typeInfo.getFieldDef()?.extensions?.viewerDependent) dependsOnViewer = true;
      },
    }),
  );
  const variables = new Set<string>();
  visit(document, {
    Field(node) {
      if (node === rootField) return { ...node, arguments: [] } as typeof node; // skip the root field's own arguments
      return undefined;
    },
    Variable(node, _key, _parent, path) {
      // Variable definitions are not uses; a use inside the root field's arguments was skipped above.
      if (!path.includes('variableDefinitions')) variables.add(node.name.value);
    },
  });
  return { id: (analysed += 1), shareable: !dependsOnViewer, variables: [...variables].sort() };
}

/** Analyses per document object and operation: the WebSocket admission hands out one AST per distinct text. */
function createAnalyser(schema: GraphQLSchema) {
  const cache = new WeakMap<DocumentNode, Map<string, Analysis | null>>();
  return (document: DocumentNode, operationName: string | null | undefined) => {
    let byOperation = cache.get(document);
    if (!byOperation) cache.set(document, (byOperation = new Map()));
    const name = operationName ?? '';
    if (!byOperation.has(name)) byOperation.set(name, analyse(schema, document, operationName));
    return byOperation.get(name)!;
  };
}

function keyOf(analysis: Analysis | null, variables: Record<string, unknown> | null | undefined): string | null {
  if (!analysis?.shareable) return null;
  return `${analysis.id}:${JSON.stringify(analysis.variables.map((name) => variables?.[name] ?? null))}`;
}

/**
 * What makes two subscriptions' results for one event identical: the same document and operation,
 * no viewer-dependent field in it, and the same values of every variable used below the root
 * field (root-field arguments only choose the source stream: conversation, afterSeq). Null when
 * the document depends on the viewer and must run per subscriber.
 */
export function shareKey(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): string | null {
  const analysis = analyse(schema, document, operationName);
  return analysis && keyOf({ ...analysis, id: 0 }, variables);
}

/** Where a subscription's `next` frames go when Parley writes them itself (see createSharedSubscribe). */
export interface FrameTransport {
  /** The graphql-ws operation id. */
  id: string;
  /** Writes one frame; resolves once the socket took it, as graphql-ws waits for its own sends. */
  send(frame: string): Promise<void>;
  /** The formatter of error results (masking), as graphql-ws's `onNext` would apply it. */
  formatErrors(errors: readonly GraphQLError[]): GraphQLFormattedError[];
}

export interface SharedSubscribeOptions {
  /** The transport of an operation's context, when Parley may write its frames directly. */
  transportOf?(context: unknown): FrameTransport | undefined;
}

/**
 * graphql-ws's `subscribe`, executing each event's selection once for every subscriber that shares
 * its result. Subscribers still own their source streams (replay, gap repair and revocation stay
 * per subscriber); a live event reaches all of them as one object, and the first subscriber to pull
 * it executes the selection and serialises the payload while the others reuse both.
 *
 * With a transport, a shared subscription writes its `next` frames itself — the cached payload
 * inside a frame naming its operation id — and yields nothing to graphql-ws, which still sees the
 * stream end or fail and answers `complete` or `error` after the last frame. That keeps the work
 * per subscriber per event near a bare `ws` broadcast: no result objects, no re-serialisation.
 * Documents that depend on the viewer run per subscriber, as graphql-js would run them.
 */
export function createSharedSubscribe(schema: GraphQLSchema, options: SharedSubscribeOptions = {}) {
  const results = new WeakMap<object, Map<string, { result: Promise<ExecutionResult>; payload?: Promise<string> }>>();
  const analyser = createAnalyser(schema);

  return async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
    const key = keyOf(analyser(args.document, args.operationName), args.variableValues as Record<string, unknown> | undefined);
    const run = (event: unknown) => execute({ ...args, rootValue: event }) as Promise<ExecutionResult>;
    const entry = (event: unknown) => {
      if (key === null || typeof event !== 'object' || event === null) return { result: run(event) };
      let byKey = results.get(event);
      if (!byKey) results.set(event, (byKey = new Map()));
      let found = byKey.get(key);
      if (!found) byKey.set(key, (found = { result: run(event) }));
      return found;
    };
    const transport = key === null ? undefined : options.transportOf?.(args.contextValue);
    if (!transport) return mapEvents(source as AsyncIterable<unknown>, (event) => entry(event).result);
    const payload = (event: unknown) => {
      const found = entry(event);
      return (found.payload ??= found.result.then((result) => JSON.stringify(result.errors ? { ...result, errors: transport.formatErrors(result.errors) } : result)));
    };
    // Flat, once per subscription: a template literal would keep a chain of string pieces instead.
    const prefix = Buffer.from(`{"id":${JSON.stringify(transport.id)},"type":"next","payload":`).toString();
    return writeEvents(source as AsyncIterable<unknown>, async (event) => transport.send(`${prefix}${await payload(event)}}`));
  };
}

/**
 * Pulls events and writes each itself; the iterator graphql-ws sees yields nothing and ends when the
 * source ends (or fails when it fails), so graphql-ws's `complete`/`error` follow the last frame.
 */
function writeEvents(source: AsyncIterable<unknown>, write: (event: unknown) => Promise<void>): Required<AsyncIterableIterator<ExecutionResult>> {
  return mapEvents(source, write, true) as Required<AsyncIterableIterator<ExecutionResult>>;
}

/**
 * graphql-js's mapping of a source stream to results, whose `return()` reaches the source at once.
 * With `consume`, each mapped value is awaited and dropped, and `next()` only settles at the end.
 * A class, not an object literal of closures: ten thousand subscriptions share its methods.
 */
class MappedEvents<T> implements Required<AsyncIterableIterator<T>> {
  private readonly iterator: AsyncIterator<unknown>;

  constructor(
    source: AsyncIterable<unknown>,
    private readonly map: (event: unknown) => Promise<T>,
    private readonly consume: boolean,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const result = await this.iterator.next();
      if (result.done) return { value: undefined, done: true };
      try {
        const value = await this.map(result.value);
        if (!this.consume) return { value, done: false };
      } catch (error) {
        await this.return().catch(() => undefined);
        throw error;
      }
    }
  }

  async return(): Promise<IteratorResult<T>> {
    await this.iterator.return?.();
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<T>> {
    await this.return().catch(() => undefined);
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function mapEvents<T>(source: AsyncIterable<unknown>, map: (event: unknown) => Promise<T>, consume = false): Required<AsyncIterableIterator<T>> {
  return new MappedEvents(source, map, consume);
}
