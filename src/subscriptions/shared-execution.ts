import {
  createSourceEventStream,
  execute,
  getOperationAST,
  Kind,
  print,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';

/**
 * `@Extensions(viewerDependent)` marks fields whose value depends on who asks (User.email,
 * viewerHasReacted, unreadCount, lists filtered by membership): a subscription selecting one runs
 * per subscriber.
 */
export const viewerDependent = { viewerDependent: true } as const;

/**
 * What makes two subscriptions' results for one event identical: the same document and operation,
 * no viewer-dependent field in it, and the same values of every variable used below the root
 * field (root-field arguments only choose the source stream: conversation, afterSeq). Null when
 * the document depends on the viewer and must run per subscriber.
 */
export function shareKey(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): string | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const rootField = operation.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  let dependsOnViewer = false;
  const usedBelowRoot = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        if (typeInfo.getFieldDef()?.extensions?.viewerDependent) dependsOnViewer = true;
      },
    }),
  );
  if (dependsOnViewer) return null;
  visit(document, {
    Field(node) {
      if (node === rootField) return { ...node, arguments: [] } as typeof node; // skip the root field's own arguments
      return undefined;
    },
    Variable(node, _key, _parent, path) {
      // Variable definitions are not uses; a use inside the root field's arguments was skipped above.
      if (!path.includes('variableDefinitions')) usedBelowRoot.add(node.name.value);
    },
  });
  const used = Object.fromEntries([...usedBelowRoot].sort().map((name) => [name, variables?.[name] ?? null]));
  return `${operationName ?? ''}\u0000${print(document)}\u0000${JSON.stringify(used)}`;
}

/**
 * graphql-ws's `subscribe`, executing each event's selection once for every subscriber that shares
 * its result. Subscribers still own their source streams (replay, gap repair and revocation stay
 * per subscriber); a live event reaches all of them as one object, and the first subscriber to pull
 * it executes the selection while the others reuse that result. Documents that depend on the viewer
 * run per subscriber, as graphql-js would run them.
 */
export function createSharedSubscribe(schema: GraphQLSchema) {
  const results = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

  return async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
    const key = shareKey(schema, args.document, args.operationName, args.variableValues as Record<string, unknown> | undefined);
    const run = (event: unknown) => execute({ ...args, rootValue: event }) as Promise<ExecutionResult>;
    const shared = (event: unknown) => {
      if (key === null || typeof event !== 'object' || event === null) return run(event);
      let byKey = results.get(event);
      if (!byKey) results.set(event, (byKey = new Map()));
      let result = byKey.get(key);
      if (!result) byKey.set(key, (result = run(event)));
      return result;
    };
    return mapEvents(source as AsyncIterable<unknown>, shared);
  };
}

/** graphql-js's mapping of a source stream to results, whose `return()` reaches the source at once. */
function mapEvents<T>(source: AsyncIterable<unknown>, map: (event: unknown) => Promise<T>): Required<AsyncIterableIterator<T>> {
  const iterator = source[Symbol.asyncIterator]();
  const close = async () => {
    await iterator.return?.();
    return { value: undefined, done: true } as const;
  };
  const mapped: Required<AsyncIterableIterator<T>> = {
    async next() {
      const result = await iterator.next();
      if (result.done) return { value: undefined, done: true };
      try {
        return { value: await map(result.value), done: false };
      } catch (error) {
        await close().catch(() => undefined);
        throw error;
      }
    },
    return: close,
    async throw(error: unknown) {
      await close().catch(() => undefined);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return mapped;
    },
  };
  return mapped;
}
