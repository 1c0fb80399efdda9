import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getOperationAST, isEnumType, parse, typeFromAST, validate, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode, type VariableDefinitionNode } from 'graphql';
import { NESTED } from '../../bench/suites/nested-query';
import { createExecutor } from '../../src/execution/executor';
import { toGlobalId } from '../../src/pagination/global-id';
import { buildParleySchema } from '../../src/schema';
import { globalUserId, openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createMessages, createReaction, setReadMarker } from '../factories/conversation.factory';
import { createUser, DEFAULT_PASSWORD } from '../factories/user.factory';
import { gqlData, runOperation } from '../helpers/gql';
import { operation, operationNames } from '../helpers/operations';
import { expectEventually } from '../helpers/expect-eventually';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

/*
 * Compiled execution answers exactly what graphql-js answers. Two production instances share one
 * database and one Redis, one with COMPILED_EXECUTION=on and one with =off; every operation in
 * operations/, every document the other tests send, and a few that probe the executors' corners run
 * on both with variables that fit and variables that do not, as a member, a stranger and anonymously.
 * HTTP answers must match byte for byte (status and body), WebSocket results and subscription events
 * value for value, errors, codes and paths included.
 */

const ROOT = path.resolve(__dirname, '../..');

let compiled: TestApp;
let interpreted: TestApp;
let schema: GraphQLSchema;
let ada: Member;
let bob: Member;
let cyd: Member;
const sockets: TestWsClient[] = [];

/** Ids the generated variables draw on. */
const fixture = {
  group: '',
  direct: '',
  foreign: '',
  message: '',
  deleted: '',
  user: '',
  handle: '',
};

beforeAll(async () => {
  const env = { NODE_ENV: 'production', PERSISTED_QUERIES: 'off', TYPING_TIMEOUT: '200ms' };
  compiled = await startTestApp({ ...env, COMPILED_EXECUTION: 'on' });
  interpreted = await startTestApp({ ...env, COMPILED_EXECUTION: 'off', DATABASE_SCHEMA: compiled.config.database.schema, REDIS_KEY_PREFIX: compiled.config.redis.keyPrefix });
  schema = await buildParleySchema({ pubSub: compiled.bus as never });
  [ada, bob, cyd] = await Promise.all([createUser(compiled), createUser(compiled), createUser(compiled)]);
  const dee = await createUser(compiled);

  // A group with history: messages by three authors, one edited, one deleted, reactions (the
  // viewer's among them), a read marker, and a member who erased their account.
  fixture.group = await openConversation(compiled, [ada, bob, dee]);
  const groupId = rawId(fixture.group);
  const ids = await createMessages(compiled, groupId, [ada.user.id, bob.user.id, dee.user.id], 30, 'hello world');
  fixture.message = toGlobalId('Message', ids[4]);
  fixture.deleted = toGlobalId('Message', ids[7]);
  for (const [index, emoji] of ['👍', '🎉', '👍'].entries()) await createReaction(compiled, ids[4], [ada, bob, dee][index].user.id, emoji);
  await createReaction(compiled, ids[9], bob.user.id, '❤️');
  await gqlData(compiled, operation('EditMessage'), { id: toGlobalId('Message', ids[3]), body: 'edited' }, { token: ada.token });
  await gqlData(compiled, operation('DeleteMessage'), { id: fixture.deleted }, { token: bob.token });
  await setReadMarker(compiled, groupId, ada.user.id, 10);
  await gqlData(compiled, 'mutation ($password: String!) { deleteAccount(password: $password) }', { password: DEFAULT_PASSWORD }, { token: dee.token });

  fixture.direct = await openConversation(compiled, [ada, bob], 'DIRECT');
  await sendMessage(compiled, bob, fixture.direct, 'just us');
  const closed = await openConversation(compiled, [ada, cyd]);
  await gqlData(compiled, operation('CloseConversation'), { id: closed }, { token: ada.token });
  fixture.foreign = await openConversation(compiled, [bob, cyd]);
  await sendMessage(compiled, cyd, fixture.foreign, 'not for ada');
  fixture.user = globalUserId(bob);
  fixture.handle = bob.user.handle;
});

afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  await interpreted?.stop();
  await compiled?.stop();
});

function rawId(globalId: string): string {
  return Buffer.from(globalId, 'base64url').toString('utf8').split(':')[1];
}

/** Every operation of operations/, one document each (with the fragments it uses). */
function exampleDocuments(): string[] {
  return operationNames.map(operation);
}

/** The documents written into the other test files (`gql(app, \`…\`)`), where they stand alone. */
function testDocuments(): string[] {
  const files = [path.join(ROOT, 'test'), path.join(ROOT, 'test/integration')].flatMap((dir) =>
    readdirSync(dir)
      .filter((file) => file.endsWith('.test.ts') && file !== path.basename(__filename))
      .map((file) => path.join(dir, file)),
  );
  const found = new Set<string>();
  for (const file of files) {
    for (const [, text] of readFileSync(file, 'utf8').matchAll(/`([^`]*)`/g)) {
      const trimmed = text.trim();
      if (text.includes('${') || !/^(\{|query\b|subscription\b|mutation\b)/.test(trimmed)) continue;
      try {
        if (validate(schema, parse(trimmed)).length === 0) found.add(trimmed);
      } catch {
        // Not a document (a code snippet in a string), or one written to fail parsing.
      }
    }
  }
  return [...found];
}

/** Documents written for this test: the corners where two executors could disagree. */
const PROBES = [
  NESTED,
  // Null bubbling: a non-null field that fails (a cursor of another list) nulls its parent.
  `query ($id: ID!, $after: String) { conversation(id: $id) { id messages(first: 2, after: $after) { edges { cursor node { id } } } } }`,
  // Abstract types: fragments on the Node interface, __typename, aliases, a field twice.
  `query ($id: ID!) { node(id: $id) { __typename id ... on Message { seq body b: body author { handle online } conversation { id title } } ... on User { handle displayName } ... on Conversation { kind members(first: 2) { totalCount edges { role joinedAt lastReadSeq cursor node { handle email } } } } } }`,
  // @skip / @include with variables, at several depths.
  `query ($with: Boolean!, $without: Boolean!) { me { handle email @include(if: $with) createdAt @skip(if: $without) } conversations(first: 2) @include(if: $with) { edges { node { title @skip(if: $with) } } } }`,
  // Timestamps, enums and ints of every kind, both directions of paging, pageInfo.
  `query ($id: ID!) { conversation(id: $id) { createdAt lastMessageAt status kind viewerRole unreadCount createdBy { handle createdAt lastSeenAt } newest: messages(last: 3) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { node { seq createdAt editedAt deletedAt clientMessageId reactions { emoji count viewerHasReacted } } } } oldest: messages(first: 3) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`,
  // Errors in lists: a bad page size in one alias leaves the other.
  `query { conversations(first: 3) { edges { node { ok: messages(last: 1) { edges { node { seq } } } bad: messages(last: 0) { edges { node { seq } } } } } } }`,
];

/** Values for a variable, by its name and type: the fixture's ids where it names one. */
function valuesFor(definition: VariableDefinitionNode): unknown[] {
  const name = definition.variable.name.value.toLowerCase();
  const type = typeFromAST(schema, definition.type as never);
  const named = type && 'ofType' in type && type.ofType ? (type.ofType as { name: string }).name : (type as { name: string } | undefined)?.name;
  if (named === 'ID') {
    if (name.includes('conversation')) return [fixture.group, fixture.foreign];
    if (name.includes('message')) return [fixture.message, fixture.deleted];
    if (name.includes('user')) return [fixture.user];
    return [fixture.group, fixture.message, fixture.user, fixture.foreign, fixture.deleted, toGlobalId('AccountExport', randomUUID())];
  }
  if (named === 'Int') return name === 'seq' ? [12] : name === 'afterseq' ? [0] : [3];
  if (named === 'Boolean') return [true, false];
  if (named === 'String') {
    if (name === 'after' || name === 'before') return [undefined];
    if (name.includes('handle') || name === 'h') return [fixture.handle];
    if (name === 'emoji') return ['👍'];
    return ['hello'];
  }
  const namedType = named ? schema.getType(named) : undefined;
  if (namedType && isEnumType(namedType)) return [namedType.getValues()[0].value, undefined];
  return [undefined];
}

/** Variable sets for an operation: every fitting combination the fixture offers (a bounded few), then ones that do not fit. */
function variableSets(definition: OperationDefinitionNode): Record<string, unknown>[] {
  const definitions = definition.variableDefinitions ?? [];
  let sets: Record<string, unknown>[] = [{}];
  for (const variable of definitions) {
    const values = valuesFor(variable);
    sets = sets.flatMap((set) => values.map((value) => (value === undefined ? set : { ...set, [variable.variable.name.value]: value }))).slice(0, 8);
  }
  if (definitions.length > 0) {
    sets.push({}); // required variables missing
    sets.push(Object.fromEntries(definitions.map((v) => [v.variable.name.value, 'not-an-id'])));
    sets.push(Object.fromEntries(definitions.map((v) => [v.variable.name.value, { nested: true }])));
  }
  return sets;
}

async function post(app: TestApp, query: string, variables: Record<string, unknown>, token?: string): Promise<string> {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return `${response.status} ${response.headers.get('content-type')}\n${await response.text()}`;
}

/** A cursor of the first connection in an answer, so the next page is asked for too. */
function firstCursor(answer: string): string | undefined {
  return /"(?:endCursor|cursor)":"([^"]+)"/.exec(answer)?.[1];
}

describe('compiled execution answers what graphql-js answers', () => {
  it('compiles every query and subscription it is given, and leaves mutations to graphql-js', () => {
    const executor = createExecutor(schema, { compiled: true, cacheSize: 100 });
    const byKind = { query: 0, mutation: 0, subscription: 0 };
    for (const text of [...exampleDocuments(), ...testDocuments(), ...PROBES]) {
      const document = parse(text);
      const kind = getOperationAST(document)!.operation;
      byKind[kind] += 1;
      expect([text.slice(0, 60), executor.isCompiled(document)]).toEqual([text.slice(0, 60), kind !== 'mutation']);
    }
    expect(byKind.query).toBeGreaterThan(20);
    expect(byKind.subscription).toBeGreaterThan(2);
  });

  it('over HTTP: every query, with every variable set, as a member, a stranger and anonymously, byte for byte', async () => {
    const queries = [...exampleDocuments(), ...testDocuments(), ...PROBES].filter((text) => getOperationAST(parse(text))!.operation === 'query');
    let compared = 0;
    const seen = { errors: 0, data: 0 };
    for (const query of queries) {
      const definition = getOperationAST(parse(query))!;
      for (const variables of variableSets(definition)) {
        for (const token of [ada.token, cyd.token, undefined]) {
          const answer = await post(compiled, query, variables, token);
          expect({ query, variables, answer: await post(interpreted, query, variables, token) }).toEqual({ query, variables, answer });
          compared += 1;
          if (answer.includes('"errors":[')) seen.errors += 1;
          if (/"data":\{"/.test(answer)) seen.data += 1;
          const cursor = firstCursor(answer);
          if (cursor && definition.variableDefinitions?.some((v) => v.variable.name.value === 'after')) {
            const next = { ...variables, after: cursor };
            const page = await post(compiled, query, next, token);
            expect({ query, next, answer: await post(interpreted, query, next, token) }).toEqual({ query, next, answer: page });
            compared += 1;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(300);
    // Both kinds of answer were compared many times: data, and errors (with codes and paths).
    expect(seen.data).toBeGreaterThan(100);
    expect(seen.errors).toBeGreaterThan(100);
  }, 180_000);

  it('over WebSocket: queries, and every event of every subscription, value for value', async () => {
    const connect = (app: TestApp, member: Member) => {
      const socket = connectWs(app.wsUrl, { token: member.token });
      sockets.push(socket);
      return socket;
    };
    const on = { ada: connect(compiled, ada), cyd: connect(compiled, cyd) };
    const off = { ada: connect(interpreted, ada), cyd: connect(interpreted, cyd) };
    await Promise.all([...Object.values(on), ...Object.values(off)].map((socket) => socket.connected));

    for (const name of ['Inbox', 'ConversationMessages', 'Me']) {
      const variables = variableSets(getOperationAST(parse(operation(name)))!)[0];
      expect(await off.ada.execute(operation(name), variables)).toEqual(await on.ada.execute(operation(name), variables));
    }

    // The same subscriptions on both instances: from the start of the group's log (a replay of
    // every stored kind of event), the inbox, presence, and a stranger's refused subscription.
    const subscriptions: [string, Record<string, unknown>, 'ada' | 'cyd'][] = [
      ['ConversationEvents', { conversationId: fixture.group, afterSeq: 0 }, 'ada'],
      ['ConversationEvents', { conversationId: fixture.direct }, 'ada'],
      ['InboxUpdates', {}, 'ada'],
      ['Presence', { conversationId: fixture.direct }, 'ada'],
      ['ConversationEvents', { conversationId: fixture.group }, 'cyd'],
    ];
    const pairs = subscriptions.map(([name, variables, who]) => [on[who].subscribe(operation(name), variables), off[who].subscribe(operation(name), variables)] as const);
    await new Promise((resolve) => setTimeout(resolve, 500));

    // What each side has received so far, kept as it arrives.
    const seen = pairs.map(() => [[], []] as [ExecutionResult[], ExecutionResult[]]);
    const pump = () => pairs.forEach(([compiledSide, interpretedSide], index) => (seen[index][0].push(...compiledSide.drain()), seen[index][1].push(...interpretedSide.drain())));
    // One change at a time: the next waits until both instances delivered this one's event on the
    // direct conversation, and every subscription has as many results on one instance as on the
    // other. Reads made at delivery (the inbox's conversation) then see the same state on both.
    let changes = 0;
    const change = async (run: () => Promise<unknown>) => {
      await run();
      changes += 1;
      await expectEventually(() => {
        pump();
        expect(Math.min(seen[1][0].length, seen[1][1].length)).toBeGreaterThanOrEqual(changes);
        for (const [onCompiled, onInterpreted] of seen) expect(onCompiled.length).toBe(onInterpreted.length);
      });
    };

    // Live events of every kind, through the compiled instance (both instances receive them through Redis).
    let sent!: { id: string; seq: number };
    await change(async () => (sent = await sendMessage(compiled, bob, fixture.direct, 'live one')));
    await change(() => runOperation(compiled, 'EditMessage', { id: sent.id, body: 'live edited' }, { token: bob.token }));
    await change(() => runOperation(compiled, 'AddReaction', { messageId: sent.id, emoji: '🔥' }, { token: ada.token }));
    await change(() => runOperation(compiled, 'RemoveReaction', { messageId: sent.id, emoji: '🔥' }, { token: ada.token }));
    await change(() => runOperation(compiled, 'MarkRead', { conversationId: fixture.direct, seq: sent.seq }, { token: ada.token }));
    await change(() => runOperation(compiled, 'SetTyping', { conversationId: fixture.direct, typing: true }, { token: bob.token }));
    await change(() => runOperation(compiled, 'DeleteMessage', { id: sent.id }, { token: bob.token }));
    const presence = connect(compiled, bob);
    await presence.connected;
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    for (const index of pairs.keys()) {
      // Each instance ends a typing indicator on its own timer: that event's time is its own.
      const ownTimer = (result: ExecutionResult) =>
        JSON.parse(JSON.stringify(result), (key, value) => (value?.__typename === 'TypingChanged' && value.typing === false ? { ...value, occurredAt: '(instance timer)' } : value));
      pump();
      const [a, b] = [seen[index][0].map(ownTimer), seen[index][1].map(ownTimer)];
      expect({ subscription: subscriptions[index], events: b }).toEqual({ subscription: subscriptions[index], events: a });
      if (index === 0) expect(a.length).toBeGreaterThan(30); // the replay reached every stored event
    }
  }, 60_000);
});
