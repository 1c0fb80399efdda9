import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  isUnionType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
} from 'graphql';
import WebSocket from 'ws';
import { toGlobalId } from '../../src/pagination/global-id';
import { createTokenService } from '../../src/security/jwt';
import { signInbound } from '../../src/webhooks/inbound';
import { ErrorCode } from '../../src/errors';
import { createConversation, createMessages } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/test-app';

/**
 * Hostile input, generated from schema.graphql with fast-check: random operations on every root
 * field with arguments of the right and the wrong types (huge strings, unicode edge cases, null
 * bytes, deep nesting, ids of another user's things), plus documents that are not GraphQL at all,
 * over HTTP and over WebSocket, against a production-mode server. Every answer must carry a known
 * error code when it fails, leak no stack or SQL, show nothing of the other user; afterwards the
 * server is ready and the data is consistent.
 */
const schema = buildSchema(readFileSync(path.resolve(__dirname, '../../schema.graphql'), 'utf8'));
/** Every code a client may cause; INTERNAL_SERVER_ERROR is a bug, whatever the status. */
const KNOWN_CODES = new Set<string>(Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR));
const WEBHOOK_SECRET = 'fuzz-webhook-secret-of-some-length';
const LEAKS = /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|SELECT\s|INSERT\s|UPDATE\s|relation "|syntax error at or near|QueryFailedError|violates .* constraint/i;

let app: TestApp;
let attacker: { token: string };
let attackerId: string;
let secret: string;
let victimEmail: string;
let victimIds: string[];

beforeAll(async () => {
  app = await startTestApp({ NODE_ENV: 'production', PERSISTED_QUERIES: 'apq', LOG_LEVEL: 'silent', INBOUND_WEBHOOK_SECRET: WEBHOOK_SECRET });
  const [victim, other, mallory] = await Promise.all([createUser(app), createUser(app), createUser(app)]);
  attacker = mallory;
  attackerId = mallory.user.id;
  victimEmail = victim.user.email!;
  secret = `VICTIM-SECRET-${Date.now()}`;
  const conversation = await createConversation(app, [victim.user.id, other.user.id], { title: secret });
  const [messageId] = await createMessages(app, conversation, [victim.user.id], 3, secret);
  await createConversation(app, [mallory.user.id, other.user.id], { title: 'attacker own' });
  victimIds = [toGlobalId('Conversation', conversation), toGlobalId('Message', messageId), toGlobalId('User', victim.user.id)];
}, 60_000);

afterAll(() => app.stop());
beforeEach(() => outcomes.clear());

// ---- values: right types, wrong types, and the nasty ones -------------------------------------

const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }), // lone surrogates included
  fc.constantFrom('\u0000', 'a\u0000b', '\u202Eevil', '\uFEFF', 'Z\u0351\u0360\u0361', '🏳️‍🌈', "'; DROP TABLE users; --", '%s%n', '${7*7}', '../../etc/passwd'),
  fc.integer({ min: 5_000, max: 120_000 }).map((n) => 'x'.repeat(n)),
);
const wrongValue = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }), nastyString);

function valueFor(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return valueFor(type.ofType, depth);
  if (isListType(type)) return fc.array(valueFor(type.ofType, depth + 1), { maxLength: 3 });
  const named = getNamedType(type);
  if (isEnumType(named)) return fc.oneof(fc.constantFrom(...named.getValues().map((v) => v.name)), nastyString);
  if (isInputObjectType(named)) {
    if (depth > 3) return fc.constant({});
    const fields = Object.values(named.getFields());
    return fc.record(Object.fromEntries(fields.map((f) => [f.name, fc.oneof({ weight: 4, arbitrary: valueFor(f.type, depth + 1) }, { weight: 1, arbitrary: wrongValue })])), { requiredKeys: [] });
  }
  switch (named.name) {
    case 'ID':
      return fc.oneof(fc.constantFrom(...victimIds), nastyString, fc.integer());
    case 'Int':
      return fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)), fc.integer());
    case 'Float':
      return fc.double();
    case 'Boolean':
      return fc.boolean();
    case 'DateTime':
      return fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), nastyString);
    default:
      return nastyString;
  }
}

// ---- documents ----------------------------------------------------------------------------------

function selection(type: GraphQLNamedType, depth: number, pick: (n: number) => number): string {
  if (isScalarType(type) || isEnumType(type)) return '';
  if (depth <= 0) return '{ __typename }';
  if (isUnionType(type)) return `{ __typename ${type.getTypes().map((t) => `... on ${t.name} ${selection(t, depth - 1, pick)}`).join(' ')} }`;
  const fields = Object.values((type as GraphQLObjectType).getFields()).filter((f) => f.args.every((a) => !isNonNullType(a.type)));
  const chosen = fields.filter((_, i) => pick(3) === 0 || i === 0);
  return `{ __typename ${chosen.map((f) => `${f.name} ${selection(getNamedType(f.type), depth - 1, pick)}`).join(' ')} }`;
}

interface Request {
  query: string;
  variables: Record<string, unknown>;
}

/** A random operation on a random root field: its arguments as variables, a random-depth selection. */
const operation: fc.Arbitrary<Request> = fc
  .record({
    root: fc.constantFrom('Query', 'Mutation', 'Subscription'),
    fieldIndex: fc.nat(),
    depth: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: fc.integer({ min: 10, max: 40 }) }),
    seed: fc.array(fc.nat(2), { minLength: 64, maxLength: 64 }),
    typed: fc.boolean(),
  })
  .chain(({ root, fieldIndex, depth, seed, typed }) => {
    const rootType = schema.getType(root) as GraphQLObjectType;
    const fields = Object.values(rootType.getFields());
    const field: GraphQLField<unknown, unknown> = fields[fieldIndex % fields.length];
    let cursor = 0;
    const pick = (n: number) => seed[cursor++ % seed.length] % n;
    const values = fc.record(Object.fromEntries(field.args.map((a) => [a.name, typed ? valueFor(a.type) : fc.oneof(valueFor(a.type), wrongValue)])), { requiredKeys: [] });
    return values.map((variables) => {
      const declared = field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
      const passed = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
      const returns = getNamedType(field.type);
      const body = isObjectType(returns) || isInterfaceType(returns) || isUnionType(returns) ? selection(returns, depth, pick) : '';
      const keyword = root === 'Query' ? 'query' : root === 'Mutation' ? 'mutation' : 'subscription';
      return { query: `${keyword} Fuzz${declared ? `(${declared})` : ''} { ${field.name}${passed ? `(${passed})` : ''} ${body} }`, variables };
    });
  });

/** Not GraphQL, or not quite: random text, truncated documents, bracket storms. */
const garbage: fc.Arbitrary<Request> = fc.oneof(
  nastyString.map((query) => ({ query, variables: {} })),
  operation.chain((op) => fc.nat(op.query.length).map((cut) => ({ query: op.query.slice(0, cut), variables: op.variables }))),
  fc.integer({ min: 50, max: 3_000 }).map((n) => ({ query: `{ ${'me { '.repeat(n)}`, variables: {} })),
);

// ---- checks ---------------------------------------------------------------------------------------

/** What the answers were, to show the fuzz reaches execution and not only the parser. */
const outcomes = new Map<string, number>();

function check(status: number, text: string): void {
  expect(text).not.toMatch(LEAKS);
  expect(text).not.toContain(secret);
  expect(text).not.toContain(victimEmail);
  let body: { errors?: { extensions?: { code?: unknown } }[]; error?: string } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // 413 and other refusals before GraphQL may be plain text; they must still not be a 500.
  }
  if (status >= 500) expect({ status, body }).toEqual({ status, body: expect.objectContaining({ errors: expect.any(Array) }) });
  for (const error of body?.errors ?? []) expect(KNOWN_CODES).toContain(error.extensions?.code);
  const outcome = body?.errors?.length ? String(body.errors[0].extensions?.code) : body && 'data' in body ? 'data' : `HTTP ${status}`;
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

async function overHttp({ query, variables }: Request): Promise<void> {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${attacker.token}` },
    body: JSON.stringify({ query, variables }),
  });
  check(response.status, await response.text());
}

/** One socket per request: subscribe, collect what comes for a moment, close. */
async function overWs({ query, variables }: Request): Promise<void> {
  const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
  const frames: string[] = [];
  let closeCode: number | undefined;
  await new Promise<void>((resolve) => {
    const done = setTimeout(() => resolve(), 250);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${attacker.token}` } })));
    socket.on('message', (data) => {
      const text = data.toString();
      frames.push(text);
      if (JSON.parse(text).type === 'connection_ack') socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
    });
    socket.on('close', (code) => {
      closeCode = code;
      clearTimeout(done);
      resolve();
    });
    socket.on('error', () => undefined);
  });
  socket.terminate();
  for (const frame of frames) check(200, frame);
  // A document the server refuses is an error message, never a dropped connection (1009 for a frame over WS_MAX_PAYLOAD excepted).
  if (closeCode !== undefined) expect([1009, 4400]).toContain(closeCode);
}

it('answers random and hostile operations over HTTP with codes, no leaks and nothing of another user', async () => {
  await fc.assert(fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: operation }, { weight: 1, arbitrary: garbage }), overHttp), { numRuns: 1_500 });
  console.log(`HTTP outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])))}`);
  expect(outcomes.get('data')).toBeGreaterThan(50); // plenty of operations ran to the end
}, 170_000);

it('answers them over WebSocket the same way', async () => {
  await fc.assert(fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: operation }, { weight: 1, arbitrary: garbage }), overWs), { numRuns: 150 });
}, 170_000);

it('answers variables that do not fit their types over WebSocket as over HTTP: BAD_USER_INPUT, never an internal error', async () => {
  const mutations = Object.values((schema.getType('Mutation') as GraphQLObjectType).getFields()).filter((f) => f.args.some((a) => isInputObjectType(getNamedType(a.type))));
  const misfit = fc.constantFrom(...mutations).chain((field) =>
    fc.record(Object.fromEntries(field.args.map((a) => [a.name, wrongValue])), { requiredKeys: field.args.map((a) => a.name) }).map((variables) => ({
      query: `mutation Misfit(${field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ')}) { ${field.name}(${field.args.map((a) => `${a.name}: $${a.name}`).join(', ')}) { __typename } }`,
      variables,
    })),
  );
  await fc.assert(fc.asyncProperty(misfit, async (request) => Promise.all([overHttp(request), overWs(request)]).then(() => undefined)), { numRuns: 60 });
  expect(outcomes.get('INTERNAL_SERVER_ERROR')).toBeUndefined();
}, 170_000);

it('answers signed webhooks with hostile text, NUL characters included, with 202 or 400, never 500', async () => {
  const webhookUrl = app.url.replace(/\/graphql$/, '/webhooks/inbound');
  const payload = fc.record({
    externalEventId: nastyString,
    conversationId: fc.oneof(fc.constantFrom(...victimIds), nastyString),
    authorHandle: nastyString,
    body: nastyString,
    sentAt: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), nastyString),
  });
  await fc.assert(
    fc.asyncProperty(payload, async (fields) => {
      const body = JSON.stringify(fields);
      const response = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(WEBHOOK_SECRET, body) }, body });
      const text = await response.text();
      expect([202, 400, 413]).toContain(response.status);
      expect(text).not.toMatch(LEAKS);
    }),
    { numRuns: 200 },
  );
}, 170_000);

it('refuses well-signed tokens whose subject is anything but a user id: 401 over HTTP, 4403 over WebSocket', async () => {
  const tokens = createTokenService({ secret: TEST_JWT_SECRET, ttlSeconds: 600 });
  await fc.assert(
    // Short enough for a header (a 100 KB token is refused by Node with 431 before Parley sees it).
    fc.asyncProperty(nastyString.filter((sub) => sub.length > 0 && sub.length < 2_000), async (sub) => {
      const token = await tokens.issue(sub);
      const http = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ me { id } }' }) });
      expect(http.status).toBe(401);
      const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
      const code = await new Promise<number>((resolve) => {
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
        socket.on('close', (closed) => resolve(closed));
        socket.on('error', () => undefined);
      });
      expect(code).toBe(4403);
    }),
    { numRuns: 60 },
  );
}, 170_000);

it('stays ready, and the data stays consistent', async () => {
  expect((await fetch(app.url.replace(/\/graphql$/, '/readyz'))).status).toBe(200);
  const query = (sql: string) => app.services.dataSource.query(sql).then((rows: { n: number }[]) => rows[0].n);
  // seq gapless per conversation, and last_seq is the head of the log
  expect(await query(`SELECT count(*)::int AS n FROM (SELECT seq - lag(seq) OVER (PARTITION BY conversation_id ORDER BY seq) AS step FROM conversation_events) s WHERE step <> 1`)).toBe(0);
  expect(await query(`SELECT count(*)::int AS n FROM conversations c WHERE c.last_seq <> coalesce((SELECT max(seq) FROM conversation_events e WHERE e.conversation_id = c.id), 0)`)).toBe(0);
  // every MessageAdded has its message, every message its event
  expect(await query(`SELECT count(*)::int AS n FROM conversation_events e WHERE e.type = 'MessageAdded' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = (e.payload->>'messageId')::uuid)`)).toBe(0);
  expect(await query(`SELECT count(*)::int AS n FROM messages m WHERE NOT EXISTS (SELECT 1 FROM conversation_events e WHERE e.conversation_id = m.conversation_id AND e.seq = m.seq)`)).toBe(0);
  // no orphans
  expect(await query(`SELECT count(*)::int AS n FROM memberships m LEFT JOIN users u ON u.id = m.user_id LEFT JOIN conversations c ON c.id = m.conversation_id WHERE u.id IS NULL OR c.id IS NULL`)).toBe(0);
  expect(await query(`SELECT count(*)::int AS n FROM reactions r LEFT JOIN messages m ON m.id = r.message_id WHERE m.id IS NULL`)).toBe(0);
  // the attacker got into nothing of the victim's: still two members, no message of the attacker's
  expect(await query(`SELECT count(*)::int AS n FROM memberships m JOIN conversations c ON c.id = m.conversation_id WHERE c.title = '${secret}'`)).toBe(2);
  expect(await query(`SELECT count(*)::int AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.title = '${secret}' AND m.author_id = '${attackerId}'`)).toBe(0);
});
