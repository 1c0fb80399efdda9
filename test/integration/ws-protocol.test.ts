import WebSocket from 'ws';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { openRawSocket, type RawSocket } from '../helpers/raw-socket';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Parley serves graphql-transport-ws itself (src/websocket/transport.ts) rather than through
 * graphql-ws's makeServer. These are the parts of the protocol graphql-ws's server does that the
 * other suites do not already show (4401, 4408 and 4409 are in query-limits and security-hardening;
 * the graphql-ws and Apollo clients run in client-helper and apollo-client).
 */
let app: TestApp;
let ada: Member;
let bob: Member;
let conversationId: string;
const sockets: RawSocket[] = [];

beforeAll(async () => {
  app = await startTestApp();
  [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
  conversationId = await openConversation(app, [ada, bob]);
});
afterAll(async () => {
  for (const raw of sockets) raw.socket.terminate();
  await app.stop();
});

async function open(): Promise<RawSocket> {
  const raw = await openRawSocket(app.wsUrl);
  sockets.push(raw);
  return raw;
}

const EVENTS = 'subscription ($id: ID!) { conversationEvents(conversationId: $id) { seq ... on MessageAdded { message { body } } } }';
const activeSubscriptions = () => app.services.metrics.counts.subscriptions;

describe('graphql-transport-ws, as graphql-ws serves it', () => {
  it('closes a socket that asks for no graphql-transport-ws subprotocol with 4406', async () => {
    // (One that asks only for another gets none back, and its own client gives up on that.)
    const socket = new WebSocket(app.wsUrl);
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    expect(closed).toEqual({ code: 4406, reason: 'Subprotocol not acceptable' });
  });

  it('closes with 4400 on a message that is not JSON, one without a valid shape, and one only a server sends', async () => {
    for (const message of ['{not json', JSON.stringify({ type: 'subscribe', id: '', payload: { query: '{ me { id } }' } }), JSON.stringify({ type: 'next', id: '1', payload: {} })]) {
      const raw = await open();
      await raw.init(ada.token);
      raw.socket.send(message);
      expect((await raw.closed).code).toBe(4400);
    }
  });

  it('cuts a close reason to what a close frame carries: a long reused id gets 4409, a long unknown init key 4400', async () => {
    const id = 'é'.repeat(200);
    const reused = await open();
    await reused.init(ada.token);
    reused.send({ id, type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } });
    reused.send({ id, type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } });
    const closed = await reused.closed;
    expect(closed.code).toBe(4409);
    expect(closed.reason).toMatch(/^Subscriber for é+$/);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);

    const misplaced = await open();
    misplaced.send({ type: 'connection_init', payload: { ['ü'.repeat(40)]: 1 } });
    expect((await misplaced.closed).code).toBe(4400);

    // The server is still there.
    const after = await open();
    await after.init(ada.token);
  });

  it('closes with 4429 on a second connection_init', async () => {
    const raw = await open();
    await raw.init(ada.token);
    raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${ada.token}` } });
    expect(await raw.closed).toEqual({ code: 4429, reason: 'Too many initialisation requests' });
  });

  it('answers ping with pong, echoing its payload, before and after the acknowledgement', async () => {
    const raw = await open();
    raw.send({ type: 'ping', payload: { at: 1 } });
    expect(await raw.messages.next()).toEqual({ type: 'pong', payload: { at: 1 } });
    await raw.init(ada.token);
    raw.send({ type: 'ping' });
    expect(await raw.messages.next()).toEqual({ type: 'pong' });
  });

  it('answers a query with next then complete, and a refused operation with error while the socket stays open', async () => {
    const raw = await open();
    await raw.init(ada.token);
    raw.send({ id: 'q', type: 'subscribe', payload: { query: '{ me { handle } }' } });
    expect(await raw.messages.next()).toEqual({ id: 'q', type: 'next', payload: { data: { me: { handle: ada.user.handle } } } });
    expect(await raw.messages.next()).toEqual({ id: 'q', type: 'complete' });
    raw.send({ id: 'bad', type: 'subscribe', payload: { query: '{ nope }' } });
    const refused = await raw.messages.next();
    expect(refused).toMatchObject({ id: 'bad', type: 'error', payload: [{ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] });
    raw.send({ id: 'q', type: 'subscribe', payload: { query: '{ me { handle } }' } });
    expect((await raw.messages.next()).type).toBe('next');
  });

  it('stops a subscription the client completes: no frame after it, its id free again, and the gauge down', async () => {
    const before = activeSubscriptions();
    const raw = await open();
    await raw.init(bob.token);
    raw.send({ id: 's', type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } });
    await expectEventually(() => expect(activeSubscriptions()).toBe(before + 1));
    await sendMessage(app, ada, conversationId, 'first');
    expect(await raw.messages.next()).toMatchObject({ id: 's', type: 'next', payload: { data: { conversationEvents: { message: { body: 'first' } } } } });

    raw.send({ id: 's', type: 'complete' });
    await expectEventually(() => expect(activeSubscriptions()).toBe(before));
    await sendMessage(app, ada, conversationId, 'after complete');
    // The same id again: a new subscription, which hears only what comes from now on.
    raw.send({ id: 's', type: 'subscribe', payload: { query: EVENTS, variables: { id: conversationId } } });
    await expectEventually(() => expect(activeSubscriptions()).toBe(before + 1));
    await sendMessage(app, ada, conversationId, 'second');
    expect(await raw.messages.next()).toMatchObject({ id: 's', type: 'next', payload: { data: { conversationEvents: { message: { body: 'second' } } } } });
    expect(raw.messages.drain()).toEqual([]);

    raw.socket.close();
    await expectEventually(() => expect(activeSubscriptions()).toBe(before));
  });

  it('ends a subscription that fails with error (FORBIDDEN for a removed member), and counts it no more', async () => {
    const carol = await createUser(app);
    const id = await openConversation(app, [ada, carol]);
    const before = activeSubscriptions();
    const raw = await open();
    await raw.init(carol.token);
    raw.send({ id: 'gone', type: 'subscribe', payload: { query: EVENTS, variables: { id } } });
    await expectEventually(() => expect(activeSubscriptions()).toBe(before + 1));
    const response = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${carol.token}` },
      body: JSON.stringify({ query: 'mutation ($id: ID!) { leaveConversation(conversationId: $id) }', variables: { id } }),
    });
    expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();
    let message = await raw.messages.next();
    while (message.type === 'next') message = await raw.messages.next();
    expect(message).toMatchObject({ id: 'gone', type: 'error', payload: [{ extensions: { code: 'FORBIDDEN' } }] });
    await expectEventually(() => expect(activeSubscriptions()).toBe(before));
    expect(raw.socket.readyState).toBe(WebSocket.OPEN);
  });
});
