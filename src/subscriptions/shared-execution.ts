import {
  createSourceEventStream,
  execute,
  getOperationAST,
  isInterfaceType,
  isObjectType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLField,
  type GraphQLFormattedError,
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import type { QueueSink } from './event-queue';

/**
 * `@Extensions(viewerDependent)` marks fields whose value depends on who asks (User.email,
 * viewerHasReacted, unreadCount, lists filtered by membership): a subscription selecting one runs
 * per subscriber.
 */
export const viewerDependent = { viewerDependent: true } as const;

/**
 * `@Extensions(viewerIndependent)` declares that a field's resolver gives every viewer the same
 * value for the same parent (an id, a body, an author): results that select it may be shared.
 */
export const viewerIndependent = { viewerIndependent: true } as const;

/** The extension `markSharing` sets on every field whose result subscribers may share. */
const SHARED = 'sharedAmongSubscribers';

/**
 * Decides once, when the schema is built, which fields a shared result may contain: a field with no
 * resolver of its own (it reads a property of its parent, which the event gives every subscriber
 * alike), or one whose resolver is declared `viewerIndependent`. A resolver declared neither way is
 * taken to depend on the viewer, so that a field added later without thought runs per subscriber
 * instead of sending one subscriber's view to all; one declared both ways stops the build.
 */
export function markSharing(schema: GraphQLSchema): void {
  const types = Object.values(schema.getTypeMap()).filter((type) => !type.name.startsWith('__'));
  const mark = (type: GraphQLObjectType | GraphQLInterfaceType, decide: (field: GraphQLField<unknown, unknown>) => boolean) => {
    for (const field of Object.values(type.getFields())) {
      const { viewerDependent: dependent, viewerIndependent: independent } = field.extensions as { viewerDependent?: boolean; viewerIndependent?: boolean };
      if (dependent && independent) throw new Error(`${type.name}.${field.name} is declared both viewerDependent and viewerIndependent`);
      const shared = !dependent && (independent === true || decide(field));
      (field as { extensions: Record<string, unknown> }).extensions = { ...field.extensions, [SHARED]: shared };
    }
  };
  for (const type of types) if (isObjectType(type)) mark(type, (field) => field.resolve === undefined);
  // A field selected on an interface runs the implementing type's field: shared if every one is.
  for (const type of types) {
    if (!isInterfaceType(type)) continue;
    const implementations = schema.getImplementations(type).objects;
    mark(type, (field) => implementations.every((object) => object.getFields()[field.name]?.extensions?.[SHARED] === true));
  }
}

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
      Field(node) {
        // __typename and the other meta fields are the same for everyone.
        if (!node.name.value.startsWith('__') && typeInfo.getFieldDef()?.extensions?.[SHARED] !== true) dependsOnViewer = true;
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
  /**
   * Writes one frame now and calls `from.written()` once the socket took it; false (and no call)
   * when there is no open socket to write to. No promise: this runs once per subscriber per event.
   */
  write(frame: string, from: { written(): void }): boolean;
  /** The stream ended, after its last frame was taken: with the error it failed with, if it failed. Called once. */
  end(failure?: { error: unknown }): void;
}

/** A subscription that writes its own frames through its FrameTransport and tells it when it ended. */
export interface PushedStream {
  /** The client completed it, or its socket closed: its source stops, and it ends at once. */
  stop(): void;
}

export interface SharedSubscribeOptions {
  /** Executes one event's selection; graphql-js's `execute` unless given (Parley passes its compiled executor). */
  execute?(args: ExecutionArgs): Promise<ExecutionResult> | ExecutionResult;
  /** The context one event is resolved in, made from the subscription's (fresh loaders per event). */
  contextForEvent?(context: unknown): unknown;
  /** Errors in a written frame as clients see them (masking); `toJSON()` unless given. */
  formatErrors?(errors: readonly GraphQLError[]): GraphQLFormattedError[];
}

/**
 * A subscribe that executes each event's selection once for every subscriber that shares its
 * result. Subscribers still own their source streams (replay, gap repair and revocation stay per
 * subscriber); a live event reaches all of them as one object, and the first subscriber to take it
 * executes the selection and serialises the payload while the others reuse both.
 *
 * With a transport, a shared subscription from a pushed source writes its `next` frames itself —
 * the cached payload inside a frame naming its operation id — and answers a PushedStream: no
 * result objects, no re-serialisation, no promise or suspended loop per subscriber, so the work
 * per subscriber per event stays near a bare `ws` broadcast and an idle subscription holds only its
 * state. The transport hears when the stream ended, after its last frame. Anything else (documents
 * that depend on the viewer, sources that can only be pulled) answers an iterator of results, as
 * graphql-js's `subscribe` would.
 */
type Results = WeakMap<object, Map<string, Shared>>;

/** One event's execution for one share key: its result, its payload, and who waits for it. */
interface Shared {
  result: Promise<ExecutionResult>;
  payload?: Promise<string>;
  /** The payload, once serialised: later subscribers write it without waiting for anything. */
  body?: string;
  /** Caught-up subscribers whose frame waits for the payload: written in one loop when it is ready. */
  waiting?: SharedSubscription[];
}

/** A source that can hand each event to a sink as it is pushed (EventQueue), instead of being pulled. */
interface Sinkable {
  sinkTo(sink: QueueSink<unknown>): void;
  sinkIdle(): void;
  abort(error: unknown): void;
  return(): Promise<unknown>;
}

const sinkable = (source: object): source is Sinkable => typeof (source as Partial<Sinkable>).sinkTo === 'function';

const toJSON = (errors: readonly GraphQLError[]) => errors.map((error) => error.toJSON());

export function createSharedSubscribe(schema: GraphQLSchema, options: SharedSubscribeOptions = {}) {
  const results: Results = new WeakMap();
  const analyser = createAnalyser(schema);

  return async (args: ExecutionArgs, transport?: FrameTransport): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult> | PushedStream> => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
    const key = keyOf(analyser(args.document, args.operationName), args.variableValues as Record<string, unknown> | undefined);
    const subscription = new SharedSubscription(args, key, results, key !== null ? transport : undefined, options);
    // A caught-up subscriber's frame is written from the producer's call (the bus callback), in the
    // loop that writes the event's frame to every subscriber waiting for it: no promise per
    // subscriber per event. Subscribers that are behind wait in their queue, in order, as before.
    if (key !== null && transport && sinkable(source)) return subscription.sinkFrom(source);
    return new MappedEvents(source as AsyncIterable<unknown>, subscription);
  };
}

/**
 * One subscription's side of the sharing: finds (or starts) the execution of an event for its key,
 * and with a transport takes each event from its source and writes the frame itself. A class, so
 * ten thousand subscriptions share its methods instead of each holding a set of closures.
 */
class SharedSubscription implements QueueSink<unknown>, PushedStream {
  /** `{"id":…,"type":"next","payload":` — flat, made once. */
  private readonly prefix: string | undefined;
  /** The source that hands this subscription its events as they come (see `take`), if it can. */
  private source: Sinkable | undefined;
  private stopped = false;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly key: string | null,
    private readonly results: Results,
    private readonly transport: FrameTransport | undefined,
    private readonly options: SharedSubscribeOptions,
  ) {
    if (transport) this.prefix = Buffer.from(`{"id":${JSON.stringify(transport.id)},"type":"next","payload":`).toString();
  }

  /** What MappedEvents does with each event it pulls (without a transport: with one, events come through `take`). */
  map(event: unknown): Promise<unknown> {
    return this.entry(event).result;
  }

  private run(event: unknown): Promise<ExecutionResult> {
    const { contextForEvent, execute: run = execute } = this.options;
    const contextValue = contextForEvent ? contextForEvent(this.args.contextValue) : this.args.contextValue;
    return Promise.resolve(run({ ...this.args, contextValue, rootValue: event }));
  }

  private entry(event: unknown): Shared {
    if (this.key === null || typeof event !== 'object' || event === null) return { result: this.run(event) };
    let byKey = this.results.get(event);
    if (!byKey) this.results.set(event, (byKey = new Map()));
    let found = byKey.get(this.key);
    if (!found) byKey.set(this.key, (found = { result: this.run(event) }));
    return found;
  }

  private payloadOf(found: Shared): Promise<string> {
    const format = this.options.formatErrors ?? toJSON;
    return (found.payload ??= found.result.then((result) => {
      const body = JSON.stringify(result.errors ? { ...result, errors: format(result.errors) } : result);
      found.body = body;
      return body;
    }));
  }

  /** The source hands this subscription its events as they come (see `take`). */
  sinkFrom(source: Sinkable): this {
    this.source = source;
    source.sinkTo(this);
    return this;
  }

  /**
   * One event for a caught-up subscriber: its frame is written now if the event's payload is ready,
   * else when it is, in the one loop that serves everyone waiting for it. True while the frame is
   * not yet taken by the socket: the source holds later events back until then, in order.
   */
  take(event: unknown): boolean {
    // Completed by the client (maybe while its replay still comes in): nothing to execute or write.
    if (this.stopped) return false;
    const found = this.entry(event);
    if (found.body !== undefined) return this.writeFrame(found.body);
    const waiting = (found.waiting ??= []);
    waiting.push(this);
    if (waiting.length === 1) {
      this.payloadOf(found).then(
        (body) => {
          found.waiting = undefined;
          for (const subscription of waiting) if (!subscription.writeFrame(body)) subscription.written();
        },
        (error: unknown) => {
          found.waiting = undefined;
          for (const subscription of waiting) {
            subscription.source!.abort(error);
            subscription.written();
          }
        },
      );
    }
    return true;
  }

  /** The socket took this subscription's frame (or there was none to write): the next event may go. */
  written(): void {
    this.source!.sinkIdle();
  }

  /** The source ended and every event went to `take`. */
  end(failure?: { error: unknown }): void {
    this.transport!.end(failure);
  }

  stop(): void {
    this.stopped = true;
    this.source!.return().catch(() => undefined);
  }

  private writeFrame(body: string): boolean {
    return !this.stopped && this.transport!.write(`${this.prefix}${body}}`, this);
  }
}

/**
 * graphql-js's mapping of a source stream to results, whose `return()` reaches the source at once.
 * A class, not an object literal of closures: ten thousand subscriptions share its methods.
 */
class MappedEvents<T> implements Required<AsyncIterableIterator<T>> {
  private readonly iterator: AsyncIterator<unknown>;

  constructor(
    source: AsyncIterable<unknown>,
    private readonly mapper: { map(event: unknown): Promise<unknown> },
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  async next(): Promise<IteratorResult<T>> {
    const result = await this.iterator.next();
    if (result.done) return { value: undefined, done: true };
    try {
      return { value: (await this.mapper.map(result.value)) as T, done: false };
    } catch (error) {
      await this.return().catch(() => undefined);
      throw error;
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
