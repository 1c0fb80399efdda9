import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { toGlobalId } from '../../src/pagination/global-id';
import { createRedisConnectionLimits } from '../../src/security/connection-limits';
import { createTokenService } from '../../src/security/jwt';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser, DEFAULT_PASSWORD } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, gql } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { openRawSocket, type RawSocket } from '../helpers/raw-socket';
import { startTestApp, TEST_JWT_SECRET, TEST_REDIS_URL, type TestApp } from '../helpers/test-app';

/**
 * What a probe with an ordinary account found, each point a regression test (issue "Security
 * hardening"). Over HTTP and WebSocket where both apply.
 */
let app: TestApp;
let alice: Member;
let bob: Member;
let conversationId: string;
const sockets: RawSocket[] = [];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  // Subscribes as fast as a hostile client sends them: the per-second cap is not what is tested here.
  app = await startTestApp({ WS_SUBSCRIBE_RATE: '1000' });
  [alice, bob] = await Promise.all([createUser(app), createUser(app)]);
  conversationId = await openConversation(app, [alice, bob]);
});
afterAll(async () => {
  for (const { socket } of sockets) socket.terminate();
  await app.stop();
});

async function socketOf(member: Member): Promise<RawSocket> {
  const raw = await openRawSocket(app.wsUrl);
  sockets.push(raw);
  await raw.init(member.token);
  return raw;
}

async function gauge(name: string, labels: string): Promise<number> {
  const text = await (await fetch(app.url.replace(/\/graphql$/, '/metrics'))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
const activeEventStreams = () => gauge('parley_subscriptions_active', 'field="conversationEvents"');

const follow = (id: string) => ({ id, type: 'subscribe', payload: { query: operation('ConversationEvents'), variables: { conversationId } } });
const complete = (id: string) => ({ id, type: 'complete' });

describe('1. subscription ids', () => {
  it('refuses with 4409 an id whose subscribe is still being set up, even after its complete', async () => {
    const raw = await socketOf(bob);
    raw.send(follow('x'));
    raw.send(complete('x'));
    raw.send(follow('x'));
    expect(await raw.closed).toEqual({ code: 4409, reason: 'Subscriber for x already exists' });
  });

  it('ends every stream a socket started: those completed while being set up, the live ones, and all of them on close', async () => {
    const before = await activeEventStreams();
    const raw = await socketOf(bob);
    for (let i = 0; i < 40; i++) {
      raw.send(follow(`early-${i}`));
      raw.send(complete(`early-${i}`));
    }
    raw.send(follow('live'));
    // A live stream is counted once set up; the 40 completed ones end when theirs finishes.
    await expectEventually(async () => expect(await activeEventStreams()).toBe(before + 1));
    await sleep(200);
    expect(await activeEventStreams()).toBe(before + 1);

    await sendMessage(app, alice, conversationId, 'one frame, one subscription');
    const frame = await raw.messages.next();
    expect(frame).toMatchObject({ type: 'next', id: 'live' });
    await sleep(300);
    expect(raw.messages.drain()).toEqual([]);

    raw.socket.close();
    await expectEventually(async () => expect(await activeEventStreams()).toBe(before));
  });

  it('leaks nothing under the probe’s pattern: subscribe x, complete x, subscribe x, wait, complete x, sixty times', async () => {
    const before = await activeEventStreams();
    let refused = 0;
    for (let round = 0; round < 60; ) {
      const raw = await socketOf(bob);
      let open = true;
      void raw.closed.then(({ code }) => {
        open = false;
        if (code === 4409) refused++;
      });
      while (open && round < 60) {
        raw.send(follow('x'));
        raw.send(complete('x'));
        raw.send(follow('x'));
        await sleep(150);
        if (open) raw.send(complete('x'));
        round++;
      }
      raw.socket.close();
      await raw.closed;
    }
    expect(refused).toBeGreaterThan(0);
    await expectEventually(async () => expect(await activeEventStreams()).toBe(before));

    // The cap counts what a socket holds, set up or being set up: 50, then RATE_LIMITED.
    const raw = await socketOf(bob);
    for (let i = 0; i < 55; i++) raw.send(follow(`cap-${i}`));
    const errors: string[] = [];
    await expectEventually(() => {
      for (const message of raw.messages.drain()) if (message.type === 'error') errors.push(message.payload[0].extensions.code);
      expect(errors).toEqual(Array(5).fill('RATE_LIMITED'));
    });
    await expectEventually(async () => expect(await activeEventStreams()).toBe(before + 50));
    raw.socket.close();
    await expectEventually(async () => expect(await activeEventStreams()).toBe(before));
  });
});

describe('2. erasure cannot be blocked', () => {
  const erase = (member: Member) => gql<any>(app, `mutation ($p: String!) { deleteAccount(password: $p) }`, { p: DEFAULT_PASSWORD }, { token: member.token });

  it('erases an account whose anonymised handle and e-mail someone registered first', async () => {
    const victim = await createUser(app);
    // Accounts holding the values erasure would give the victim (as one registered before sign-up reserved them could).
    await createUser(app, { handle: `deleted_${victim.user.id.replace(/-/g, '').slice(0, 24)}` });
    await createUser(app, { email: `deleted-${victim.user.id}@deleted.invalid` });
    expect((await erase(victim)).data).toEqual({ deleteAccount: true });
    const [row] = await app.services.dataSource.query(`SELECT deleted_at FROM users WHERE id = $1`, [victim.user.id]);
    expect(row.deleted_at).not.toBeNull();
  });

  it('refuses at sign-up the handles and addresses erased accounts are given', async () => {
    const signUp = (handle: string, email: string) =>
      gql<any>(app, `mutation ($i: SignUpInput!) { signUp(input: $i) { token } }`, { i: { handle, email, displayName: 'Mallory', password: 'correct horse battery' } });
    const reservedHandle = await signUp('Deleted_0123456789abcdef01234567', 'mallory@example.com');
    expect({ codes: errorCodes(reservedHandle), message: reservedHandle.errors![0].message }).toEqual({ codes: ['BAD_USER_INPUT'], message: expect.stringContaining('reserved for erased accounts') });
    const reservedEmail = await signUp('mallory', 'deleted-x@deleted.INVALID');
    expect({ codes: errorCodes(reservedEmail), message: reservedEmail.errors![0].message }).toEqual({ codes: ['BAD_USER_INPUT'], message: expect.stringContaining('.invalid') });
  });

  it('lets a new account take an erased account’s former e-mail, and signs in only the live one', async () => {
    const leaving = await createUser(app);
    await erase(leaving);
    const [{ email }] = await app.services.dataSource.query(`SELECT email FROM users WHERE id = $1`, [leaving.user.id]);
    const heir = await createUser(app, { email: leaving.user.email! });
    const signIn = await gql<any>(app, `mutation ($i: SignInInput!) { signIn(input: $i) { user { id } } }`, { i: { login: leaving.user.email, password: DEFAULT_PASSWORD } });
    expect(signIn.data.signIn.user.id).toBe(toGlobalId('User', heir.user.id));
    expect(email).toMatch(/@deleted\.invalid$/);
  });
});

describe('4. presence for strangers', () => {
  const presenceOf = `query ($h: String!) { user(handle: $h) { online lastSeenAt } }`;

  it('shows online and lastSeenAt only to the user and those who share a conversation with them, over HTTP and WebSocket', async () => {
    const stranger = await createUser(app);
    // Bob is online (a socket open), and was seen before.
    await app.services.dataSource.query(`UPDATE users SET last_seen_at = now() - interval '1 hour' WHERE id = $1`, [bob.user.id]);
    await socketOf(bob);
    const variables = { h: bob.user.handle };
    await expectEventually(async () => expect((await gql<any>(app, presenceOf, variables, { token: alice.token })).data.user.online).toBe(true));
    expect((await gql<any>(app, presenceOf, variables, { token: alice.token })).data.user.lastSeenAt).toEqual(expect.any(String));
    expect((await gql<any>(app, presenceOf, variables, { token: bob.token })).data.user).toEqual({ online: true, lastSeenAt: expect.any(String) });
    expect((await gql<any>(app, presenceOf, variables, { token: stranger.token })).data.user).toEqual({ online: false, lastSeenAt: null });

    const ws = await socketOf(stranger);
    ws.send({ id: 'q', type: 'subscribe', payload: { query: presenceOf, variables } });
    expect(await ws.messages.next()).toMatchObject({ type: 'next', id: 'q', payload: { data: { user: { online: false, lastSeenAt: null } } } });
  });
});

describe('5. sockets per user and per address', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const shared = { DATABASE_SCHEMA: app.config.database.schema, REDIS_KEY_PREFIX: `${app.config.redis.keyPrefix}caps:`, WS_MAX_CONNECTIONS_PER_USER: '3', WS_MAX_CONNECTIONS_PER_ADDRESS: '6' };
    [a, b] = await Promise.all([startTestApp(shared), startTestApp(shared)]);
  });
  afterAll(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  async function closeAll(opened: { raw: RawSocket }[]) {
    for (const { raw } of opened) raw.socket.close();
    await Promise.all(opened.map(({ raw }) => raw.closed));
  }

  /** Opens a socket once the server has given back what closed ones held (a refused one holds nothing). */
  const admittedOn = (target: TestApp, token?: string) =>
    expectEventually(async () => {
      const opened = await openOn(target, token);
      expect(opened.first.type).toBe('connection_ack');
      return opened;
    });

  async function openOn(target: TestApp, token?: string) {
    const raw = await openRawSocket(target.wsUrl);
    sockets.push(raw);
    raw.send({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} });
    const first = await Promise.race([raw.messages.next(), raw.closed.then((closed) => ({ type: 'closed', ...closed }))]);
    return { raw, first: first as { type: string; code?: number; reason?: string } };
  }

  it('refuses one socket more than WS_MAX_CONNECTIONS_PER_USER across instances with 4429, and admits again once one closes', async () => {
    const carol = await createUser(app);
    const open = [await openOn(a, carol.token), await openOn(b, carol.token), await openOn(a, carol.token)];
    expect(open.map((s) => s.first.type)).toEqual(['connection_ack', 'connection_ack', 'connection_ack']);
    const refused = await openOn(b, carol.token);
    expect(refused.first).toEqual({ type: 'closed', code: 4429, reason: 'Too many connections for this user: at most 3 open WebSockets.' });
    open[0].raw.socket.close();
    await open[0].raw.closed;
    const again = await admittedOn(b, carol.token);
    await closeAll([...open, again]);
  });

  it('refuses one socket more than WS_MAX_CONNECTIONS_PER_ADDRESS, signed in or not', async () => {
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await openOn(i % 2 ? a : b));
    expect(held.map((s) => s.first.type)).toEqual(Array(6).fill('connection_ack'));
    const dave = await createUser(app);
    expect((await openOn(a, dave.token)).first).toEqual({ type: 'closed', code: 4429, reason: 'Too many connections from this address: at most 6 open WebSockets.' });
    await closeAll(held);
    await closeAll([await admittedOn(a, dave.token)]);
  });

  it('stops counting the sockets of an instance that died once its entries expire', async () => {
    const [lost, kept] = [new Redis(TEST_REDIS_URL), new Redis(TEST_REDIS_URL)];
    const options = { keyPrefix: `${app.config.redis.keyPrefix}dying:`, caps: { perUser: 2, perAddress: 100 }, ttlMs: 600, onError: () => undefined };
    const dying = createRedisConnectionLimits({ ...options, redis: lost, instanceId: 'dying' });
    const survivor = createRedisConnectionLimits({ ...options, redis: kept, instanceId: 'survivor' });
    await Promise.all([lost.ping(), kept.ping()]);
    try {
      expect(await dying.admit('erin', '203.0.113.9')).toHaveProperty('ticket');
      expect(await dying.admit('erin', '203.0.113.9')).toHaveProperty('ticket');
      expect(await survivor.admit('erin', '203.0.113.10')).toEqual({ refused: expect.objectContaining({ cap: 'user' }) });
      // The dying instance loses Redis for good without giving anything back, as a killed process does.
      lost.disconnect();
      await expectEventually(async () => expect(await survivor.admit('erin', '203.0.113.10')).toHaveProperty('ticket'), { timeoutMs: 5_000 });
    } finally {
      await survivor.dispose();
      await dying.dispose();
      await kept.quit();
    }
  });
});

describe('6. APQ registration', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  const post = (target: TestApp, body: Record<string, unknown>, token?: string) =>
    fetch(target.url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, ...((await r.json()) as { data?: unknown; errors?: { message: string; extensions: { code: string } }[] }) }));
  const register = (target: TestApp, query: string, token?: string) => post(target, { query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }, token);
  const byHash = (target: TestApp, query: string) => post(target, { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } });
  const stored = async (target: TestApp, query: string) => !(await byHash(target, query)).errors;

  let apq: TestApp;
  let members: TestApp;
  beforeAll(async () => {
    const shared = { DATABASE_SCHEMA: app.config.database.schema, PERSISTED_QUERIES: 'apq', PERSISTED_QUERY_REGISTER_RATE: '3/1m' };
    apq = await startTestApp({ ...shared, REDIS_KEY_PREFIX: `${app.config.redis.keyPrefix}apq-any:` });
    members = await startTestApp({ ...shared, REDIS_KEY_PREFIX: `${app.config.redis.keyPrefix}apq-members:`, PERSISTED_QUERIES_REGISTER: 'authenticated' });
  });
  afterAll(() => Promise.all([apq.stop(), members.stop()]));

  it('stores a few registrations per address, and beyond runs the documents without storing them', async () => {
    const documents = Array.from({ length: 5 }, (_, i) => `{ __typename } # document ${i}`);
    for (const query of documents) expect(await register(apq, query)).toMatchObject({ status: 200, data: { __typename: 'Query' } });
    expect(await Promise.all(documents.map((query) => stored(apq, query)))).toEqual([true, true, true, false, false]);
    expect((await byHash(apq, documents[4])).errors![0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('refuses a document over PERSISTED_QUERY_MAX_BYTES, counting its comments', async () => {
    const padded = `{ __typename } #${'x'.repeat(21_000)}`;
    const response = await register(apq, padded);
    expect({ status: response.status, code: response.errors![0].extensions.code }).toEqual({ status: 400, code: 'QUERY_TOO_COMPLEX' });
    expect(response.errors![0].message).toContain('at most 20480 bytes');
    expect(await stored(apq, padded)).toBe(false);
  });

  it('with PERSISTED_QUERIES_REGISTER=authenticated, stores only signed-in clients’ documents', async () => {
    const anonymous = '{ __typename } # anonymous';
    expect(await register(members, anonymous)).toMatchObject({ data: { __typename: 'Query' } });
    expect(await stored(members, anonymous)).toBe(false);
    const signedIn = '{ __typename } # signed in';
    expect(await register(members, signedIn, alice.token)).toMatchObject({ data: { __typename: 'Query' } });
    expect(await stored(members, signedIn)).toBe(true);
  });
});

describe('7. codes for what clients cause', () => {
  it('refuses a well-signed token whose subject is no user id: 401 on HTTP, 4403 on WebSocket', async () => {
    const odd = await createTokenService({ secret: TEST_JWT_SECRET, ttlSeconds: 3600 }).issue('not-a-uuid');
    const http = await gql<any>(app, '{ me { id } }', {}, { token: odd });
    expect({ status: http.status, codes: errorCodes(http) }).toEqual({ status: 401, codes: ['UNAUTHENTICATED'] });
    const raw = await openRawSocket(app.wsUrl);
    sockets.push(raw);
    raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${odd}` } });
    expect((await raw.closed).code).toBe(4403);
  });
});

describe('7. codes for what clients cause (continued)', () => {
  it('answers a variable that does not fit its type over WebSocket with BAD_USER_INPUT, as HTTP does', async () => {
    const query = `mutation ($i: SendMessageInput!) { sendMessage(input: $i) { id } }`;
    const variables = { i: { bod: 'y' } };
    const http = await gql<any>(app, query, variables, { token: alice.token });
    expect({ status: http.status, codes: new Set(errorCodes(http)) }).toEqual({ status: 400, codes: new Set(['BAD_USER_INPUT']) });
    const raw = await socketOf(alice);
    raw.send({ id: 'v', type: 'subscribe', payload: { query, variables } });
    const answer = await raw.messages.next();
    expect({ type: answer.type, codes: answer.payload.map((e: { extensions: { code: string } }) => e.extensions.code) }).toEqual({ type: 'error', codes: expect.arrayContaining(['BAD_USER_INPUT']) });
    expect(new Set(answer.payload.map((e: { extensions: { code: string } }) => e.extensions.code))).toEqual(new Set(['BAD_USER_INPUT']));
    expect(app.logs.filter((l) => l.msg === 'internal error')).toEqual([]);
  });

  it('refuses a NUL character over HTTP with 400, not 500', async () => {
    const response = await gql<any>(app, `query ($h: String!) { user(handle: $h) { id } }`, { h: 'a\u0000' }, { token: alice.token });
    expect({ status: response.status, codes: errorCodes(response) }).toEqual({ status: 400, codes: ['BAD_USER_INPUT'] });
  });

  it('does not log an APQ hash that does not match its document as an internal error', async () => {
    const response = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'ab'.repeat(32) } } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(app.logs.filter((l) => l.msg === 'internal error')).toEqual([]);
  });
});

describe('8. sign-up does not say which e-mail exists', () => {
  it('answers a taken e-mail with a CONFLICT that names the field, not the address', async () => {
    const taken = await gql<any>(app, `mutation ($i: SignUpInput!) { signUp(input: $i) { token } }`, {
      i: { handle: `fresh_${Date.now()}`, displayName: 'Mallory', email: alice.user.email, password: 'correct horse battery' },
    });
    expect(taken.errors).toEqual([expect.objectContaining({ message: 'That e-mail address cannot be used for a new account.', extensions: expect.objectContaining({ code: 'CONFLICT', field: 'email' }) })]);
    expect(JSON.stringify(taken)).not.toContain(alice.user.email);
  });
});

describe('10. content', () => {
  const send = (body: string) => gql<any>(app, operation('SendMessage'), { input: { conversationId, body, clientMessageId: randomUUID() } }, { token: alice.token });

  it('refuses a body of only invisible characters, and counts length in code points', async () => {
    for (const body of ['\u200B', '\u200B\u200C\u2060 \uFEFF', '\u3164']) expect(errorCodes(await send(body))).toEqual(['BAD_USER_INPUT']);
    expect((await send('😀'.repeat(4000))).errors).toBeUndefined();
    const long = await send('😀'.repeat(4001));
    expect(long.errors![0].message).toBe('body must be 1 to 4000 characters after trimming, got 4001.');
  });

  it('stores display names NFC-normalised, without bidi controls or zero-width characters, counted in code points', async () => {
    const signUp = (displayName: string) =>
      gql<any>(app, `mutation ($i: SignUpInput!) { signUp(input: $i) { user { displayName } } }`, {
        i: { handle: `name_${randomUUID().slice(0, 8)}`, displayName, email: `${randomUUID()}@example.com`, password: 'correct horse battery' },
      });
    expect((await signUp('Jose\u0301 \u202Egnp.exe\u202C\u200B')).data.signUp.user.displayName).toBe('José gnp.exe');
    expect((await signUp('🦊'.repeat(64))).data.signUp.user.displayName).toBe('🦊'.repeat(64));
    expect(errorCodes(await signUp('🦊'.repeat(65)))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await signUp('\u202E\u200B'))).toEqual(['BAD_USER_INPUT']);
  });
});

describe('11. connection_init keys', () => {
  it('takes Authorization in any case, and refuses any other key with 4400 and a reason instead of connecting anonymously', async () => {
    const capital = await openRawSocket(app.wsUrl);
    sockets.push(capital);
    capital.send({ type: 'connection_init', payload: { Authorization: `Bearer ${alice.token}` } });
    expect((await capital.messages.next()).type).toBe('connection_ack');
    capital.send({ id: 'me', type: 'subscribe', payload: { query: '{ me { id } }' } });
    expect(await capital.messages.next()).toMatchObject({ type: 'next', payload: { data: { me: { id: toGlobalId('User', alice.user.id) } } } });

    const misplaced = await openRawSocket(app.wsUrl);
    sockets.push(misplaced);
    misplaced.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${alice.token}` } } });
    expect(await misplaced.closed).toEqual({ code: 4400, reason: 'Unknown connection_init payload key "headers": send { authorization: "Bearer <token>" }' });
  });
});
