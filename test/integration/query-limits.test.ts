import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql } from '../helpers/gql';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

let app: TestApp;
let production: TestApp;
let token: string;
const clients: TestWsClient[] = [];

beforeAll(async () => {
  app = await startTestApp({ WS_CONNECTION_INIT_TIMEOUT: '300ms', CORS_ORIGINS: 'https://app.example.com' });
  production = await startTestApp({ NODE_ENV: 'production', PERSISTED_QUERIES: 'apq', DATABASE_SCHEMA: app.config.database.schema, REDIS_KEY_PREFIX: app.config.redis.keyPrefix });
  ({ token } = await createUser(app));
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await production.stop();
  await app.stop();
});

/** A query nested `depth` selection sets deep, through conversations and their messages. */
function deepQuery(depth: number): string {
  const path = Array.from({ length: depth - 3 }, (_, level) => ['messages', 'edges', 'node', 'conversation'][level % 4]);
  const inner = path.reduceRight((selection, field) => `${field} { ${selection} }`, '__typename');
  return `{ conversations { edges { node { ${inner} } } } }`;
}

const manyAliases = `{ ${Array.from({ length: 100 }, (_, i) => `a${i}: me { id }`).join(' ')} }`;

/** About 64 KB of fragments spreading each other: cheap to send, and once very slow to validate. */
function nestedFragments(): string {
  const fragments = ['fragment F0 on Query { me { id handle } }'];
  for (let i = 1; fragments.join('\n').length < 64 * 1024; i++) fragments.push(`fragment F${i} on Query { ...F${i - 1} me { id } ...F${Math.max(0, i - 2)} }`);
  return `query Nested { ...F${fragments.length - 1} }\n${fragments.join('\n')}`;
}

async function overHttp(query: string) {
  const startedAt = Date.now();
  const response = await gql(app, query, {}, { token });
  return { ...response, ms: Date.now() - startedAt };
}

async function overWs(query: string, target = app) {
  const client = connectWs(target.wsUrl, { token });
  clients.push(client);
  const startedAt = Date.now();
  const { error } = await client.subscribe(query).finished();
  return { codes: (error as { extensions?: { code?: string } }[]).map((e) => e.extensions?.code), ms: Date.now() - startedAt };
}

describe('query limits, the same on HTTP and WebSocket', () => {
  it.each([
    ['a query 20 levels deep', deepQuery(20)],
    ['a query with 100 aliases', manyAliases],
    ['a 64 KB document of nested fragments', nestedFragments()],
  ])('refuses %s with QUERY_TOO_COMPLEX, quickly, as HTTP 400', async (_case, query) => {
    const http = await overHttp(query);
    expect({ status: http.status, codes: errorCodes(http) }).toEqual({ status: 400, codes: expect.arrayContaining(['QUERY_TOO_COMPLEX']) });
    expect(new Set(errorCodes(http))).toEqual(new Set(['QUERY_TOO_COMPLEX']));
    expect(http.ms).toBeLessThan(1_000);
    const ws = await overWs(query);
    expect(new Set(ws.codes)).toEqual(new Set(['QUERY_TOO_COMPLEX']));
    expect(ws.ms).toBeLessThan(1_000);
  });

  it('accepts the deepest query Parley’s own clients send', async () => {
    const response = await overHttp(deepQuery(8));
    expect(response.errors).toBeUndefined();
  });
});

describe('query cost: one model for literals and variables, on HTTP and WebSocket', () => {
  /** `query <name>(…) { body }`, declaring the variables the body uses: `$id` an ID, page sizes Ints. */
  const operation = (name: string, body: string) => {
    const used = [...new Set(body.match(/\$\w+/g) ?? [])];
    return `query ${name}${used.length ? `(${used.map((v) => `${v}: ${v === '$id' ? 'ID!' : 'Int'}`).join(', ')})` : ''} ${body}`;
  };
  /** The inbox a chat client shows, with its page sizes written in or passed as variables. */
  const inbox = (c: string, m: string, n: string) => operation('Inbox', `{
    conversations(first: ${c}) { edges { cursor node { id title unreadCount
      members(first: ${m}) { totalCount edges { role node { id handle } } }
      messages(last: ${n}) { pageInfo { hasPreviousPage startCursor }
        edges { cursor node { id seq body author { id handle } reactions { emoji count viewerHasReacted } } } } } }
      pageInfo { hasNextPage endCursor } } }`);
  const history = (n: string) => operation('History', `{ conversation(id: $id) { id messages(last: ${n}) {
    edges { cursor node { id body author { handle } reactions { emoji count } } } pageInfo { hasPreviousPage startCursor } } } }`);
  const wide = (c: string, n: string) => operation('Wide', `{ conversations(first: ${c}) { edges { node { id
    messages(first: ${n}) { edges { node { id reactions { emoji count } } } } } } } }`);

  async function overWsResult(query: string, variables: Record<string, unknown>) {
    const client = connectWs(app.wsUrl, { token });
    clients.push(client);
    return client.execute(query, variables).then(
      (result) => ({ errors: result.errors as { message: string; extensions?: Record<string, unknown> }[] | undefined }),
      (errors: { message: string; extensions?: Record<string, unknown> }[]) => ({ errors }),
    );
  }

  it.each([
    ['the natural inbox (20 conversations, 5 members, the last 50 messages with authors and reactions)', inbox('20', '5', '50'), inbox('$c', '$m', '$n'), { c: 20, m: 5, n: 50 }],
    ['a history page of 100', history('100'), history('$n'), { n: 100 }],
  ])('accepts %s as literals and as variables, on both transports', async (_case, literal, byVariables, sizes) => {
    const variables = { id: 'Q29udmVyc2F0aW9uOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA' };
    for (const [query, values] of [[literal, variables], [byVariables, { ...variables, ...sizes }]] as const) {
      const http = await gql(app, query, values, { token });
      expect({ status: http.status, errors: http.errors }).toEqual({ status: 200, errors: undefined });
      expect((await overWsResult(query, values)).errors).toBeUndefined();
    }
  });

  it('refuses 100 conversations × 100 messages × reactions as literals and as variables, on both transports, naming the cost and the limit', async () => {
    for (const [query, variables] of [[wide('100', '100'), {}], [wide('$c', '$n'), { c: 100, n: 100 }]] as const) {
      const http = await gql(app, query, variables, { token });
      expect({ status: http.status, codes: errorCodes(http) }).toEqual({ status: 400, codes: ['QUERY_TOO_COMPLEX'] });
      expect(http.errors![0].message).toMatch(/costs 70301, over the limit of 10000/);
      expect(http.errors![0].extensions).toMatchObject({ cost: 70301, limit: 10000 });
      const ws = await overWsResult(query, variables);
      expect(ws.errors).toEqual([expect.objectContaining({ message: http.errors![0].message, extensions: expect.objectContaining({ code: 'QUERY_TOO_COMPLEX', cost: 70301 }) })]);
    }
  });

  it('refuses a costly operation before any resolver runs', async () => {
    app.queries.length = 0;
    await gql(app, wide('$c', '$n'), { c: 100, n: 100 }, { token });
    expect(app.queries).toEqual([]);
  });

  it('stops start-up naming a trusted-manifest operation that could cost more than the limit', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-manifest-'));
    const manifest = path.join(dir, 'manifest.json');
    const operation = (name: string, body: string) => ({ id: name.padEnd(64, '0'), name, type: 'query', body });
    writeFileSync(
      manifest,
      JSON.stringify({
        format: 'apollo-persisted-query-manifest',
        version: 1,
        operations: [operation('Fine', history('$n')), operation('Wide', wide('$c', '$n'))],
      }),
    );
    await expect(startTestApp({ PERSISTED_QUERIES: 'trusted', PERSISTED_QUERY_MANIFEST: manifest })).rejects.toThrow(
      /operations this server would refuse:\n {2}- Wide can cost 70301 \(every variable page size at 100\), over QUERY_MAX_COST=10000/,
    );
  });
});

describe('in production', () => {
  it('refuses introspection on both transports', async () => {
    const http = await gql(production, '{ __schema { types { name } } }', {}, { token });
    expect(errorCodes(http)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect((await overWs('{ __type(name: "User") { name } }', production)).codes).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });

  it('suggests no field names', async () => {
    const http = await gql(production, '{ mee { id } }', {}, { token });
    expect(http.errors![0].message).toBe('Cannot query field "mee" on type "Query".');
    const development = await gql(app, '{ mee { id } }', {}, { token });
    expect(development.errors![0].message).toContain('Did you mean "me"?');
  });
});

describe('HTTP hygiene', () => {
  it('refuses a body over the limit with 413 and a GraphQL error', async () => {
    const response = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ me { id } } #${'x'.repeat(110_000)}` }) });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ errors: [{ message: 'The request body is larger than this server accepts (102400 bytes).', extensions: { code: 'BAD_REQUEST' } }] });
  });

  it('answers refusals made before execution in application/graphql-response+json when the client prefers it', async () => {
    const accept = 'application/graphql-response+json,application/json;q=0.9';
    const post = (body: string) => fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body });
    for (const [response, status] of [
      [await post(JSON.stringify({ query: `{ me { id } } #${'x'.repeat(110_000)}` })), 413],
      [await post('{"query": '), 400],
      [await post(JSON.stringify({ query: '{ conversations(first: 100) { edges { node { messages(first: 100) { edges { node { id } } } } } } }' })), 400],
    ] as const) {
      expect({ status: response.status, type: response.headers.get('content-type') }).toEqual({ status, type: 'application/graphql-response+json; charset=utf-8' });
      expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toMatch(/BAD_REQUEST|QUERY_TOO_COMPLEX/);
    }
  });

  it('refuses batched operations', async () => {
    const response = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]) });
    expect(response.status).toBe(400);
  });

  it('refuses a subscription sent over HTTP with BAD_REQUEST, pointing to WebSocket', async () => {
    const response = await gql(app, `subscription { inboxUpdates { removed } }`);
    expect(response.status).toBe(400);
    expect(errorCodes(response)).toEqual(['BAD_REQUEST']);
    expect(response.errors![0].message).toContain('WebSocket');
  });

  it('refuses NUL characters in text, inline or in variables, with BAD_USER_INPUT on both transports', async () => {
    const { token } = await createUser(app);
    const inline = await gql(app, `{ user(handle: "a\\u0000b") { id } }`, {}, { token });
    expect(errorCodes(inline)).toEqual(['BAD_USER_INPUT']);
    const variable = await gql(app, `query ($h: String!) { user(handle: $h) { id } }`, { h: 'x\u0000' }, { token });
    expect(errorCodes(variable)).toEqual(['BAD_USER_INPUT']);
    expect(variable.errors![0].message).toContain('NUL');
    const client = connectWs(app.wsUrl, { token });
    try {
      // Refused at subscribe time: graphql-ws answers with an error message for the operation.
      await expect(client.execute(`query ($h: String!) { user(handle: $h) { id } }`, { h: '\u0000' })).rejects.toEqual([
        expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT' } }),
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('allows browser calls only from the configured origins', async () => {
    const preflight = (origin: string) =>
      fetch(app.url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect((await preflight('https://app.example.com')).headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect((await preflight('https://evil.example.net')).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('WebSocket hygiene', () => {
  /** A bare graphql-transport-ws socket, to send what a well-behaved client never would. */
  function rawSocket(): Promise<{ socket: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
    const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    return new Promise((resolve, reject) => {
      socket.on('open', () => resolve({ socket, closed }));
      socket.on('error', reject);
    });
  }
  const init = (socket: WebSocket) =>
    new Promise<void>((resolve) => {
      socket.once('message', () => resolve());
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    });
  const subscribe = (id: string) => JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { inboxUpdates { removed } }' } });

  it('closes a socket that does not send connection_init in time with 4408', async () => {
    const { closed } = await rawSocket();
    expect(await closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
  });

  it('closes a socket that subscribes before it is acknowledged with 4401', async () => {
    const { socket, closed } = await rawSocket();
    socket.send(subscribe('1'));
    expect((await closed).code).toBe(4401);
  });

  it('closes a socket that reuses a running operation id with 4409', async () => {
    const { socket, closed } = await rawSocket();
    await init(socket);
    socket.send(subscribe('same'));
    socket.send(subscribe('same'));
    expect(await closed).toEqual({ code: 4409, reason: 'Subscriber for same already exists' });
  });

  it('answers an operation name the document does not have with OPERATION_RESOLUTION_FAILURE', async () => {
    const client = connectWs(app.wsUrl, { token });
    clients.push(client);
    const { error } = await client.client.iterate({ query: 'query A { me { id } } query B { me { handle } }', operationName: 'C' }).next().then(
      () => ({ error: undefined }),
      (e: unknown) => ({ error: e }),
    );
    expect(error).toEqual([expect.objectContaining({ extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } })]);
  });

  it('closes a socket that sends a message over the size limit with 1009', async () => {
    const { socket, closed } = await rawSocket();
    await init(socket);
    socket.send(JSON.stringify({ id: 'big', type: 'subscribe', payload: { query: `{ me { id } } #${'x'.repeat(110_000)}` } }));
    expect((await closed).code).toBe(1009);
  });
});

describe('standard directives', () => {
  it('honours @include and @skip, as every client library expects', async () => {
    const response = await gql(app, `query ($withEmail: Boolean!) { me { handle email @include(if: $withEmail) id @skip(if: true) } }`, { withEmail: false }, { token });
    expect(response.errors).toBeUndefined();
    expect(Object.keys((response.data as { me: object }).me)).toEqual(['handle']);
  });
});
