import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sendMessage } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes } from '../helpers/gql';
import { OPERATIONS_DIR } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs } from '../helpers/ws-client';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function post(app: TestApp, body: Record<string, unknown>, token?: string) {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, ...((await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] }) };
}

async function get(app: TestApp, params: Record<string, unknown>, headers: Record<string, string> = {}) {
  const search = new URLSearchParams(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])));
  const response = await fetch(`${app.url}?${search}`, { headers });
  return { status: response.status, ...((await response.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] }) };
}

describe('automatic persisted queries (APQ)', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp({ PERSISTED_QUERIES: 'apq' });
    b = await startTestApp({ PERSISTED_QUERIES: 'apq', DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix });
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  it('asks for an unknown hash, registers it, then serves the hash alone on every instance and over GET', async () => {
    const query = `query Ping${randomUUID().replace(/-/g, '')} { __typename }`;
    const persistedQuery = { version: 1, sha256Hash: sha256(query) };
    const unknown = await post(a, { extensions: { persistedQuery } });
    expect(errorCodes(unknown)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);

    expect((await post(a, { query, extensions: { persistedQuery } })).data).toEqual({ __typename: 'Query' });
    expect((await post(b, { extensions: { persistedQuery } })).data).toEqual({ __typename: 'Query' });

    const preflighted = await get(b, { extensions: { persistedQuery } }, { 'apollo-require-preflight': 'true' });
    expect(preflighted).toMatchObject({ status: 200, data: { __typename: 'Query' } });
    // CSRF prevention: a GET a browser could send cross-site without asking is refused.
    expect((await get(b, { extensions: { persistedQuery } })).status).toBe(400);
  });

  it('refuses a hash that does not match its document, and stores nothing', async () => {
    const query = `query Mismatch${randomUUID().replace(/-/g, '')} { __typename }`;
    const persistedQuery = { version: 1, sha256Hash: sha256('something else') };
    const mismatched = await post(a, { query, extensions: { persistedQuery } });
    expect(mismatched.status).toBe(400);
    expect(mismatched.errors).toEqual([expect.objectContaining({ message: 'provided sha does not match query', extensions: expect.objectContaining({ code: 'BAD_REQUEST' }) })]);
    expect(errorCodes(await post(b, { extensions: { persistedQuery } }))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
  });
});

describe('persisted queries turned off', () => {
  it('answers an APQ hash with PERSISTED_QUERY_NOT_SUPPORTED, so Apollo Client sends documents instead', async () => {
    const off = await startTestApp({ PERSISTED_QUERIES: 'off' });
    try {
      const response = await post(off, { extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ __typename }') } } });
      expect(errorCodes(response)).toEqual(['PERSISTED_QUERY_NOT_SUPPORTED']);
    } finally {
      await off.stop();
    }
  });
});

describe('trusted documents', () => {
  let dir: string;
  let app: TestApp;
  let manifest: { operations: { id: string; name: string; body: string }[] };
  const idOf = (name: string) => manifest.operations.find((o) => o.name === name)!.id;

  beforeAll(async () => {
    // What `npm run manifest` does, into a directory of this test's own.
    dir = mkdtempSync(path.join(tmpdir(), 'parley-manifest-'));
    const output = path.join(dir, 'manifest.json');
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ documents: [`${OPERATIONS_DIR}/**/*.graphql`], output }));
    await promisify(execFile)(process.execPath, [require.resolve('@apollo/generate-persisted-query-manifest/cli.js'), '--config', path.join(dir, 'config.json')]);
    manifest = JSON.parse(readFileSync(output, 'utf8'));
    app = await startTestApp({ PERSISTED_QUERIES: 'trusted', PERSISTED_QUERY_MANIFEST: output });
  });
  afterAll(async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a manifest operation sent by id over HTTP, by POST and by GET', async () => {
    const { user, token } = await createUser(app);
    const persistedQuery = { version: 1, sha256Hash: idOf('Me') };
    expect(await post(app, { extensions: { persistedQuery } }, token)).toMatchObject({ status: 200, data: { me: { handle: user.handle } } });
    const handle = `trusted_${randomUUID().slice(0, 8)}`;
    const signUp = await post(app, {
      operationName: 'SignUp',
      variables: { input: { handle, displayName: 'Trusted', email: `${handle}@example.com`, password: 'long enough password' } },
      extensions: { persistedQuery: { version: 1, sha256Hash: idOf('SignUp') } },
    });
    expect(signUp.data.signUp.user.handle).toBe(handle);
    const viaGet = await get(app, { extensions: { persistedQuery: { version: 1, sha256Hash: idOf('FindUsers') } }, variables: { search: handle } }, {
      'apollo-require-preflight': 'true',
      authorization: `Bearer ${token}`,
    });
    expect(viaGet.data.users.edges.map((e: any) => e.node.handle)).toEqual([handle]);
  });

  it('refuses any document sent as text with PERSISTED_QUERY_NOT_ALLOWED, even one from the manifest', async () => {
    const { token } = await createUser(app);
    for (const query of ['{ me { id } }', manifest.operations.find((o) => o.name === 'Me')!.body]) {
      const refused = await post(app, { query }, token);
      expect(refused.status).toBe(400);
      expect(errorCodes(refused)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
    }
    expect(errorCodes(await get(app, { query: '{ __typename }' }, { 'apollo-require-preflight': 'true' }))).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
    // A path the URL parser chokes on is still a JSON answer, not an HTML error page.
    const odd = await fetch(`${app.url}//[?query=${encodeURIComponent('{ __typename }')}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(odd.headers.get('content-type')).toMatch(/json/);
    expect(errorCodes((await odd.json()) as { errors?: never[] })).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
    expect(errorCodes(await post(app, { extensions: { persistedQuery: { version: 1, sha256Hash: sha256('not in the manifest') } } }))).toEqual([
      'PERSISTED_QUERY_NOT_FOUND',
    ]);
  });

  it('runs a manifest subscription by id over WebSocket, and refuses a raw document there too', async () => {
    const [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
    const created = await post(
      app,
      { variables: { input: { kind: 'GROUP', title: 'trusted', memberIds: [Buffer.from(`User:${bob.user.id}`).toString('base64url')] } }, extensions: { persistedQuery: { version: 1, sha256Hash: idOf('CreateConversation') } } },
      ada.token,
    );
    const conversationId = created.data.createConversation.id;
    const client = connectWs(app.wsUrl, { token: bob.token });
    try {
      const raw = await client.subscribe('subscription { inboxUpdates { removed } }').finished();
      expect(raw.error).toEqual([expect.objectContaining({ extensions: { code: 'PERSISTED_QUERY_NOT_ALLOWED' } })]);
      const events = client.subscribe('', { conversationId, afterSeq: 0 }, { persistedQuery: { version: 1, sha256Hash: idOf('ConversationEvents') } });
      expect((await events.next()).data).toMatchObject({ conversationEvents: { __typename: 'MemberJoined', seq: 1 } });
      await expect(sendMessage(app, ada, conversationId, 'raw documents are refused')).rejects.toThrow('PERSISTED_QUERY_NOT_ALLOWED');
    } finally {
      await client.dispose();
    }
  });
});
