import { ApolloClient, InMemoryCache } from '@apollo/client';
import { createParleyClient, type ParleyClient, type Refetch } from '@parley/client';
import { ParleyWsLink, SocketClosedError } from '@parley/client/apollo';
import WebSocket from 'ws';
import { ConversationEvents, InboxUpdates } from '../../docs/examples/documents';
import { connectParley, followConversation } from '../../docs/examples/follow-conversation';
import { createTokenService } from '../../src/security/jwt';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { gqlData, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/test-app';

let app: TestApp;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let alice: Member;
let bob: Member;
const clients: ParleyClient[] = [];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  app = await startTestApp();
  proxy = await startTcpProxy('127.0.0.1', Number(new URL(app.url).port));
  [alice, bob] = await Promise.all([createUser(app), createUser(app)]);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await proxy.close();
  await app.stop();
});

/** A helper client for Bob, through the proxy the test cuts; it retries quickly. */
function bobsClient(options: Partial<Parameters<typeof createParleyClient>[0]> = {}): ParleyClient {
  const client = createParleyClient({
    url: `ws://127.0.0.1:${proxy.port}/graphql`,
    token: () => bob.token,
    webSocketImpl: WebSocket,
    retryWait: () => sleep(50),
    ...options,
  });
  clients.push(client);
  return client;
}

const lastSeqOf = async (conversationId: string) =>
  (await gqlData<{ conversation: { lastSeq: number } }>(app, `query ($id: ID!) { conversation(id: $id) { lastSeq } }`, { id: conversationId }, { token: bob.token })).conversation.lastSeq;

type Event = { __typename: string; seq: number | null; message?: { body: string }; fromSeq?: number };

describe('the client helper', () => {
  it('gives an Apollo subscriber all 300 messages exactly once and in order across connection cuts, and the ephemeral events sent while it is connected', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    const parley = bobsClient();
    let connections = 0;
    parley.client.on('connected', () => connections++);
    const client = new ApolloClient({ link: new ParleyWsLink(parley), cache: new InMemoryCache() });
    const bodies: string[] = [];
    let typing = 0;
    const subscription = client.subscribe({ query: ConversationEvents, variables: { conversationId, afterSeq: await lastSeqOf(conversationId) } }).subscribe(({ data }) => {
      const event = data?.conversationEvents;
      if (event?.__typename === 'MessageAdded') bodies.push(event.message.body!);
      if (event?.__typename === 'TypingChanged') typing++;
    });

    /** Typing is at most once: it arrives only while connected. Sends it until one arrives. */
    const typingArrives = async () => {
      const before = typing;
      await expectEventually(
        async () => {
          await runOperation(app, 'SetTyping', { conversationId, typing: true }, { token: alice.token });
          await sleep(50);
          expect(typing).toBeGreaterThan(before);
        },
        { timeoutMs: 10_000 },
      );
    };

    await expectEventually(() => expect(connections).toBe(1));
    await typingArrives();
    const sending = (async () => {
      for (let i = 1; i <= 300; i++) await sendMessage(app, alice, conversationId, `m${i}`);
    })();
    for (let cut = 1; cut <= 4; cut++) {
      await expectEventually(() => expect(bodies.length).toBeGreaterThanOrEqual(cut * 50), { timeoutMs: 20_000 });
      await proxy.block();
      await sleep(150);
      await proxy.unblock();
      await expectEventually(() => expect(connections).toBe(cut + 1), { timeoutMs: 10_000 });
      await typingArrives();
    }
    await sending;
    await expectEventually(() => expect(bodies).toHaveLength(300), { timeoutMs: 20_000 });
    expect(bodies).toEqual(Array.from({ length: 300 }, (_, i) => `m${i + 1}`));
    subscription.unsubscribe();
  });

  it('asks onAuthExpired for a fresh token on 4403, then resumes where it was; given none, it ends the subscription with the close', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    // A token that expires in a second: the server closes the socket with 4403 then.
    const shortLived = createTokenService({ secret: TEST_JWT_SECRET, ttlSeconds: 1 });
    let token = await shortLived.issue(bob.user.id);
    const renewals: string[] = [];
    let renew = true;
    const parley = connectParley(
      `ws://127.0.0.1:${proxy.port}/graphql`,
      () => token,
      {
        signInAgain: async () => {
          renewals.push('asked');
          if (!renew) return null;
          token = await app.services.tokens.issue(bob.user.id);
          return token;
        },
        reloadHistory: () => undefined,
        readInboxAgain: () => undefined,
        readPresenceAgain: () => undefined,
      },
      WebSocket,
    );
    clients.push(parley);
    const bodies: string[] = [];
    const errors: unknown[] = [];
    followConversation(
      parley,
      conversationId,
      await lastSeqOf(conversationId),
      (event) => event.__typename === 'MessageAdded' && bodies.push(event.message.body!),
      (error) => errors.push(error),
    );
    await sendMessage(app, alice, conversationId, 'before expiry');
    await expectEventually(() => expect(bodies).toEqual(['before expiry']));
    await expectEventually(() => expect(renewals).toHaveLength(1), { timeoutMs: 5_000 });
    await sendMessage(app, alice, conversationId, 'after renewal');
    await expectEventually(() => expect(bodies).toEqual(['before expiry', 'after renewal']));

    // Now the token is refused and none comes: the subscription ends with the 4403.
    renew = false;
    token = await shortLived.issue(bob.user.id);
    parley.client.terminate();
    await expectEventually(() => expect(errors).toEqual([expect.objectContaining({ code: 4403 })]), { timeoutMs: 5_000 });
    expect(renewals).toHaveLength(2);
  });

  it('ends an Apollo subscription with SocketClosedError when the token is refused and onAuthExpired is not given', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    const parley = bobsClient({ token: () => 'not-a-token' });
    const client = new ApolloClient({ link: new ParleyWsLink(parley), cache: new InMemoryCache() });
    const result = await new Promise<{ error?: unknown }>((resolve) => {
      client.subscribe({ query: ConversationEvents, variables: { conversationId, afterSeq: 0 } }).subscribe({ next: resolve, error: (error) => resolve({ error }) });
    });
    expect(result.error).toBeInstanceOf(SocketClosedError);
    expect(result.error).toMatchObject({ code: 4403 });
  });

  it('after a reconnect, says what it could not resume: the inbox, presence, and conversations without a resume point', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    const reconnects: Refetch[] = [];
    const parley = bobsClient({ onReconnected: (refetch) => reconnects.push(refetch) });
    const ignore = { next: () => undefined, error: () => undefined, complete: () => undefined };
    let connections = 0;
    parley.client.on('connected', () => connections++);
    parley.subscribe({ query: operation('InboxUpdates') }, ignore, InboxUpdates);
    parley.subscribe({ query: operation('Presence'), variables: { conversationId } }, ignore);
    parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId } }, ignore);
    parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId, afterSeq: await lastSeqOf(conversationId) } }, ignore);
    await expectEventually(() => expect(connections).toBe(1));
    await proxy.block();
    await proxy.unblock();
    await expectEventually(() => expect(reconnects).toEqual([{ inbox: true, presence: [conversationId], conversations: [conversationId] }]), { timeoutMs: 10_000 });
  });

  it('backs off while the tokens onAuthExpired gives keep being refused', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    let asked = 0;
    const parley = createParleyClient({ url: app.wsUrl, token: () => 'not-a-token', webSocketImpl: WebSocket, onAuthExpired: () => (asked++, 'still-not-a-token') });
    clients.push(parley);
    parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId, afterSeq: 0 } }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    await sleep(1_500);
    // Default backoff: 0.125–0.25 s, then doubling. Without it this was hundreds of refusals a second.
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(asked).toBeLessThanOrEqual(5);
    await parley.dispose();
  });

  it('sends again, later, the subscribes a reconnect sent faster than the server takes them', async () => {
    const strict = await startTestApp({ WS_SUBSCRIBE_RATE: '3', DATABASE_SCHEMA: app.config.database.schema, REDIS_KEY_PREFIX: app.config.redis.keyPrefix });
    const strictProxy = await startTcpProxy('127.0.0.1', Number(new URL(strict.url).port));
    try {
      const conversations = await Promise.all(Array.from({ length: 5 }, () => openConversation(app, [alice, bob])));
      const parley = createParleyClient({ url: `ws://127.0.0.1:${strictProxy.port}/graphql`, token: () => bob.token, webSocketImpl: WebSocket, retryWait: () => sleep(50) });
      clients.push(parley);
      let connections = 0;
      parley.client.on('connected', () => connections++);
      const received = new Map<string, string[]>();
      const errors: unknown[] = [];
      for (const conversationId of conversations) {
        received.set(conversationId, []);
        parley.subscribe(
          { query: operation('ConversationEvents'), variables: { conversationId, afterSeq: await lastSeqOf(conversationId) } },
          {
            next: ({ data }) => {
              const event = (data as { conversationEvents: Event }).conversationEvents;
              if (event.__typename === 'MessageAdded') received.get(conversationId)!.push(event.message!.body);
            },
            error: (error) => errors.push(error),
            complete: () => undefined,
          },
        );
      }
      await expectEventually(() => expect(connections).toBe(1), { timeoutMs: 10_000 });
      await strictProxy.block();
      for (const conversationId of conversations) await sendMessage(app, alice, conversationId, 'while away');
      await strictProxy.unblock();
      await expectEventually(() => expect([...received.values()]).toEqual(Array(5).fill(['while away'])), { timeoutMs: 15_000 });
      expect(errors).toEqual([]);
    } finally {
      await strictProxy.close();
      await strict.stop();
    }
  });

  it('reports no reconnect when the app ended its last subscription and later starts another', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    const reconnects: Refetch[] = [];
    const parley = bobsClient({ onReconnected: (refetch) => reconnects.push(refetch) });
    let connections = 0;
    parley.client.on('connected', () => connections++);
    const ignore = { next: () => undefined, error: () => undefined, complete: () => undefined };
    const stop = parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId } }, ignore);
    await expectEventually(() => expect(connections).toBe(1));
    stop();
    await sleep(200);
    parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId } }, ignore);
    await expectEventually(() => expect(connections).toBe(2));
    await sleep(100);
    expect(reconnects).toEqual([]);
  });

  it('disposes without waiting out the reconnect backoff', async () => {
    const conversationId = await openConversation(app, [alice, bob]);
    // A long backoff whose timer does not keep this test process alive.
    const parley = bobsClient({ retryWait: () => new Promise<void>((resolve) => setTimeout(resolve, 30_000).unref()) });
    let connections = 0;
    parley.client.on('connected', () => connections++);
    parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId } }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    await expectEventually(() => expect(connections).toBe(1));
    await proxy.block();
    await proxy.unblock();
    await sleep(100);
    const startedAt = Date.now();
    await parley.dispose();
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  });

  it('calls onResync when more events were missed than the server replays, and passes ResyncRequired on', async () => {
    const small = await startTestApp({ REPLAY_LIMIT: '3', DATABASE_SCHEMA: app.config.database.schema, REDIS_KEY_PREFIX: app.config.redis.keyPrefix });
    try {
      const conversationId = await openConversation(app, [alice, bob]);
      const from = await lastSeqOf(conversationId);
      for (let i = 0; i < 5; i++) await sendMessage(app, alice, conversationId, `missed ${i}`);
      const resyncs: unknown[] = [];
      const events: Event[] = [];
      const parley = createParleyClient({ url: small.wsUrl, token: () => bob.token, webSocketImpl: WebSocket, onResync: (resync) => resyncs.push(resync) });
      clients.push(parley);
      parley.subscribe(
        { query: operation('ConversationEvents'), variables: { conversationId, afterSeq: from } },
        { next: ({ data }) => events.push((data as { conversationEvents: Event }).conversationEvents), error: () => undefined, complete: () => undefined },
      );
      await expectEventually(() => expect(resyncs).toEqual([{ conversationId, fromSeq: from + 1 }]));
      expect(events).toEqual([expect.objectContaining({ __typename: 'ResyncRequired', fromSeq: from + 1 })]);
    } finally {
      await small.stop();
    }
  });
});
