import { buildSchema, execute, parse, type ExecutionResult, type GraphQLFieldConfig, type GraphQLSchema } from 'graphql';
import { EventQueue } from './event-queue';
import { createSharedSubscribe, markSharing, shareKey, viewerIndependent, type FrameTransport } from './shared-execution';

const schema = buildSchema(`
  type Query { noop: Boolean }
  type User { id: ID! handle: String! email: String }
  type Event { user: User! note(lang: String): String }
  type Subscription { events(room: ID!, after: Int): Event! }
`);
// buildSchema cannot declare extensions: mark User.email as type-graphql's @Extensions would.
(schema.getType('User') as unknown as { getFields(): Record<string, { extensions: object }> }).getFields().email.extensions = { viewerDependent: true };
markSharing(schema);

const key = (query: string, variables: Record<string, unknown> = {}) => shareKey(schema, parse(query), undefined, variables);

describe('shareKey', () => {
  it('ignores the root field’s arguments, which only choose the source stream', () => {
    const document = 'subscription ($room: ID!, $after: Int) { events(room: $room, after: $after) { user { handle } } }';
    expect(key(document, { room: 'a', after: 1 })).toBe(key(document, { room: 'b', after: 9 }));
  });

  it('tells apart variables used below the root field', () => {
    const document = 'subscription ($room: ID!, $lang: String) { events(room: $room) { note(lang: $lang) } }';
    expect(key(document, { room: 'a', lang: 'en' })).not.toBe(key(document, { room: 'a', lang: 'fr' }));
  });

  it('refuses to share a document with a viewer-dependent field, even in a fragment', () => {
    expect(key('subscription { events(room: "a") { ...U } } fragment U on Event { user { email } }')).toBeNull();
    expect(key('subscription { events(room: "a") { user { handle } } }')).not.toBeNull();
  });
});

type FieldOf = GraphQLFieldConfig<unknown, unknown> & { extensions: Record<string, unknown> };
const fieldOf = (target: GraphQLSchema, type: string, name: string) => (target.getType(type) as unknown as { getFields(): Record<string, FieldOf> }).getFields()[name];

/** A schema like Parley's: Subscription.events yields the one event object every subscriber receives. */
function eventSchema(declare: (whoAsks: FieldOf) => void) {
  const target = buildSchema(`
    type Query { noop: Boolean }
    type Event { text: String! whoAsks: String }
    type Subscription { events: Event! }
  `);
  const listeners = new Set<(event: unknown) => void>();
  const events = fieldOf(target, 'Subscription', 'events');
  events.subscribe = () => {
    const queue: unknown[] = [];
    let wake: (() => void) | undefined;
    const listener = (event: unknown) => (queue.push(event), wake?.());
    listeners.add(listener);
    return {
      async next() {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return { value: queue.shift(), done: false };
      },
      async return() {
        listeners.delete(listener);
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  };
  events.resolve = (event) => event;
  events.extensions = { ...viewerIndependent };
  // A field added later: its resolver reads who asks.
  const whoAsks = fieldOf(target, 'Event', 'whoAsks');
  whoAsks.resolve = (_event, _args, context) => (context as { viewer: string }).viewer;
  declare(whoAsks);
  markSharing(target);
  return { schema: target, publish: (event: unknown) => listeners.forEach((listener) => listener(event)) };
}

async function deliverOne(target: ReturnType<typeof eventSchema>, viewers: string[]): Promise<unknown[]> {
  const subscribe = createSharedSubscribe(target.schema);
  const document = parse('subscription { events { text whoAsks } }');
  const streams = (await Promise.all(viewers.map((viewer) => subscribe({ schema: target.schema, document, contextValue: { viewer } })))) as AsyncIterableIterator<ExecutionResult>[];
  const results = streams.map((stream) => stream.next());
  target.publish({ text: 'hello' });
  const delivered = (await Promise.all(results)).map((result) => result.value.data);
  await Promise.all(streams.map((stream) => stream.return?.()));
  return delivered;
}

describe('sharing, decided when the schema is built', () => {
  it('does not share a field whose resolver reads the viewer and says nothing about it', async () => {
    const target = eventSchema(() => undefined);
    expect(shareKey(target.schema, parse('subscription { events { text whoAsks } }'), undefined, {})).toBeNull();
    expect(shareKey(target.schema, parse('subscription { events { text __typename } }'), undefined, {})).not.toBeNull();
    expect(await deliverOne(target, ['alice', 'bob'])).toEqual([
      { events: { text: 'hello', whoAsks: 'alice' } },
      { events: { text: 'hello', whoAsks: 'bob' } },
    ]);
  });

  it('shares what a resolver declares viewer-independent (and so a wrong declaration is the only way to leak)', async () => {
    const target = eventSchema((whoAsks) => (whoAsks.extensions = { ...viewerIndependent }));
    expect(shareKey(target.schema, parse('subscription { events { text whoAsks } }'), undefined, {})).not.toBeNull();
    const [first, second] = await deliverOne(target, ['alice', 'bob']);
    expect(second).toEqual(first);
  });

  it('stops the build when a field is declared both ways', () => {
    expect(() => eventSchema((whoAsks) => (whoAsks.extensions = { viewerDependent: true, viewerIndependent: true }))).toThrow(
      'Event.whoAsks is declared both viewerDependent and viewerIndependent',
    );
  });
});

describe('frames of caught-up subscribers', () => {
  it('are written in one loop once the event is executed, once for all, in order, and before the stream ends', async () => {
    const target = buildSchema(`type Query { noop: Boolean } type Event { text: String! } type Subscription { events: Event! }`);
    const queues: EventQueue<unknown>[] = [];
    const events = fieldOf(target, 'Subscription', 'events');
    events.subscribe = () => {
      const queue = new EventQueue<unknown>();
      queues.push(queue);
      return queue;
    };
    events.resolve = (event) => event;
    events.extensions = { ...viewerIndependent };
    markSharing(target);
    const frames: string[][] = [];
    let executions = 0;
    const pending: (() => void)[] = [];
    const ends: string[][] = [];
    const transportFor = (index: number): FrameTransport => ({
      id: String(index),
      write: (frame, from) => ((frames[index] ??= []).push(frame), pending.push(() => from.written()), true),
      end: (failure) => (ends[index] ??= []).push(failure ? (failure.error as Error).message : 'complete'),
    });
    const subscribe = createSharedSubscribe(target, { execute: (args) => ((executions += 1), execute(args)) });
    const document = parse('subscription { events { text } }');
    const streams = await Promise.all([0, 1, 2].map((index) => subscribe({ schema: target, document, contextValue: {} }, transportFor(index))));
    expect(streams.every((stream) => 'stop' in stream)).toBe(true);

    const first = { text: 'one' };
    const second = { text: 'two' };
    for (const queue of queues) queue.push(first);
    for (const queue of queues) queue.push(second); // each socket still owes its first frame: held back
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames.map((f) => f.length)).toEqual([1, 1, 1]);
    for (const done of pending.splice(0)) done(); // the sockets took the first frames: the second event runs, once
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames.map((f) => f.map((frame) => JSON.parse(frame).payload.data.events.text))).toEqual([
      ['one', 'two'],
      ['one', 'two'],
      ['one', 'two'],
    ]);
    expect(frames[1][0]).toBe('{"id":"1","type":"next","payload":{"data":{"events":{"text":"one"}}}}');
    expect(executions).toBe(2);

    // The stream ends (here with an error) only after its last frame is taken.
    for (const queue of queues) queue.fail(new Error('over'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ends).toEqual([]);
    for (const done of pending.splice(0)) done();
    expect(ends).toEqual([['over'], ['over'], ['over']]);
  });
});
