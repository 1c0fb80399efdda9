import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { createParleyClient } from '@parley/client';
import { ParleyWsLink } from '@parley/client/apollo';
import WebSocket from 'ws';
import { createParleyApolloClient } from '../../docs/examples/apollo-client';
import { openConversation, type ConversationView } from '../../docs/examples/conversation-view';
import { ConversationMessages, CreateConversation, EditMessage, AddReaction, MarkRead, RemoveMember, SendMessage, SetTyping, SignUp, manifest, type ConversationSummary, type Message, type UnreadTotal } from '../../docs/examples/documents';
import { openInbox } from '../../docs/examples/inbox-view';
import { expectEventually } from '../helpers/expect-eventually';
import { startTestApp, type TestApp } from '../helpers/test-app';

const MANIFEST = path.resolve(__dirname, '../../persisted-query-manifest.json');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One person using the documented Apollo setup: their own client, cache and token. */
interface Person {
  id: string;
  handle: string;
  token: string;
  client: ApolloClient;
  dispose(): Promise<void>;
}

async function signUp(app: TestApp, handle: string): Promise<Person> {
  let token: string | null = null;
  const { client, parley } = createParleyApolloClient({ url: app.url, token: () => token, manifest, webSocketImpl: WebSocket });
  const { data } = await client.mutate({
    mutation: SignUp,
    variables: { input: { handle, displayName: handle, email: `${handle}@example.com`, password: 'correct horse battery' } },
  });
  token = data!.signUp.token;
  return { id: data!.signUp.user.id, handle, token, client, dispose: () => parley.dispose() };
}

const send = (person: Person, conversationId: string, body: string) =>
  person.client.mutate({ mutation: SendMessage, variables: { input: { conversationId, body, clientMessageId: randomUUID() } } }).then(({ data }) => data!.sendMessage);

describe.each([['trusted'], ['apq']])('the documented Apollo Client 4 setup against a production server, PERSISTED_QUERIES=%s', (mode) => {
  let app: TestApp;
  let alice: Person;
  let bob: Person;
  let conversationId: string;
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    app = await startTestApp({ NODE_ENV: 'production', PERSISTED_QUERIES: mode, PERSISTED_QUERY_MANIFEST: MANIFEST });
    const suffix = randomUUID().slice(0, 6);
    [alice, bob] = await Promise.all([signUp(app, `alice_${suffix}`), signUp(app, `bob_${suffix}`)]);
  });
  afterAll(async () => {
    closers.forEach((close) => close());
    await Promise.all([alice?.dispose(), bob?.dispose()]);
    await app.stop();
  });

  it('signs up and creates a conversation', async () => {
    const { data } = await alice.client.mutate({ mutation: CreateConversation, variables: { input: { kind: 'GROUP', title: 'Launch', memberIds: [bob.id] } } });
    conversationId = data!.createConversation.id;
    expect(data!.createConversation).toMatchObject({ title: 'Launch', viewerRole: 'OWNER', lastSeq: expect.any(Number) });
  });

  it('pages the inbox forward, every conversation once', async () => {
    for (let i = 0; i < 24; i++) await alice.client.mutate({ mutation: CreateConversation, variables: { input: { kind: 'GROUP', title: `room ${i}`, memberIds: [] } } });
    let shown: readonly ConversationSummary[] = [];
    const inbox = openInbox(alice.client, { pageSize: 10, onConversations: (conversations) => (shown = conversations) });
    closers.push(inbox.close);
    await expectEventually(() => expect(shown).toHaveLength(10));
    expect(await inbox.loadMore()).toBe(true);
    expect(await inbox.loadMore()).toBe(true);
    expect(await inbox.loadMore()).toBe(false);
    await expectEventually(() => expect(new Set(shown.map((c) => c.id)).size).toBe(25));
    expect(shown).toHaveLength(25);
    inbox.close();
  });

  it('pages the history backward and forward, every message once and in order', async () => {
    for (let i = 1; i <= 45; i++) await send(alice, conversationId, `message ${i}`);
    let shown: readonly Message[] = [];
    const view = await openConversation(alice.client, conversationId, { viewerId: alice.id, pageSize: 20, onMessages: (messages) => (shown = messages) });
    closers.push(view.close);
    await expectEventually(() => expect(shown).toHaveLength(20));
    expect(shown.at(-1)!.body).toBe('message 45');
    expect([await view.loadOlder(), await view.loadOlder(), await view.loadOlder()]).toEqual([true, true, false]);
    await expectEventually(() => expect(shown.map((m) => m.body)).toEqual(Array.from({ length: 45 }, (_, i) => `message ${i + 1}`)));
    view.close();

    // Forward from the oldest: relayStylePagination appends each page after the cursor it was asked after.
    const variables = { id: conversationId, first: 20 };
    const forward = alice.client.watchQuery({ query: ConversationMessages, variables, fetchPolicy: 'network-only' });
    const pages = forward.subscribe(() => undefined);
    try {
      await expectEventually(() => expect(forward.getCurrentResult().dataState).toBe('complete'));
      const page = () => alice.client.readQuery({ query: ConversationMessages, variables })!.conversation!.messages;
      while (page().pageInfo.hasNextPage) await forward.fetchMore({ variables: { after: page().pageInfo.endCursor! } });
      expect(page().edges.map((e) => e.node.body)).toEqual(Array.from({ length: 45 }, (_, i) => `message ${i + 1}`));
    } finally {
      pages.unsubscribe();
    }
  });

  it('delivers sends, edits, reactions, typing and read receipts live through the subscription', async () => {
    let bobSees: readonly Message[] = [];
    let aliceSees: readonly Message[] = [];
    const typing: string[] = [];
    const receipts: number[] = [];
    const views: ConversationView[] = [
      await openConversation(bob.client, conversationId, { viewerId: bob.id, onMessages: (m) => (bobSees = m), onTyping: (user, on) => typing.push(`${user.handle}:${on}`) }),
      await openConversation(alice.client, conversationId, { viewerId: alice.id, onMessages: (m) => (aliceSees = m), onReadReceipt: (userId, seq) => userId === bob.id && receipts.push(seq) }),
    ];
    closers.push(...views.map((view) => view.close));

    const sent = await send(alice, conversationId, 'live hello');
    await expectEventually(() => expect(bobSees.at(-1)).toMatchObject({ id: sent.id, body: 'live hello', author: { handle: alice.handle }, reactions: [] }));
    await expectEventually(() => expect(aliceSees.at(-1)?.id).toBe(sent.id));

    await alice.client.mutate({ mutation: EditMessage, variables: { id: sent.id, body: 'live hello, edited' } });
    await expectEventually(() => expect(bobSees.at(-1)).toMatchObject({ body: 'live hello, edited', editedAt: expect.any(String) }));

    await alice.client.mutate({ mutation: AddReaction, variables: { messageId: sent.id, emoji: '🎉' } });
    await expectEventually(() => expect(bobSees.at(-1)!.reactions).toEqual([expect.objectContaining({ emoji: '🎉', count: 1, viewerHasReacted: false })]));
    await bob.client.mutate({ mutation: AddReaction, variables: { messageId: sent.id, emoji: '🎉' } });

    // Ephemeral events reach a live subscription; this one has delivered everything above.
    await alice.client.mutate({ mutation: SetTyping, variables: { conversationId, typing: true } });
    await expectEventually(() => expect(typing).toContain(`${alice.handle}:true`));
    // Bob's own ReactionChanged came before the typing event: it did not count his reaction twice.
    expect(bobSees.at(-1)!.reactions).toEqual([expect.objectContaining({ emoji: '🎉', count: 2, viewerHasReacted: true })]);

    await bob.client.mutate({ mutation: MarkRead, variables: { conversationId, seq: sent.seq } });
    await expectEventually(() => expect(receipts).toContain(sent.seq));
    views.forEach((view) => view.close());

    // Opened again, the screen shows the same counts: no event is applied twice.
    let again: readonly Message[] = [];
    const reopened = await openConversation(bob.client, conversationId, { viewerId: bob.id, onMessages: (m) => (again = m) });
    closers.push(reopened.close);
    await alice.client.mutate({ mutation: SetTyping, variables: { conversationId, typing: false } });
    await expectEventually(() => expect(again.at(-1)?.id).toBe(sent.id));
    await sleep(200);
    expect(again.at(-1)!.reactions).toEqual([expect.objectContaining({ emoji: '🎉', count: 2, viewerHasReacted: true })]);
    reopened.close();
  });

  it('drops the conversation from the inbox and ends its subscription with FORBIDDEN when the viewer is removed', async () => {
    let inbox: readonly ConversationSummary[] = [];
    let badge: UnreadTotal | undefined;
    const errors: Error[] = [];
    const inboxView = openInbox(bob.client, { onConversations: (conversations) => (inbox = conversations), onUnreadTotal: (total) => (badge = total) });
    const view = await openConversation(bob.client, conversationId, { viewerId: bob.id, onMessages: () => undefined, onError: (error) => errors.push(error) });
    closers.push(inboxView.close, view.close);
    await expectEventually(() => expect(inbox.map((c) => c.id)).toContain(conversationId));

    // inboxUpdates replays nothing: wait until it is live (it shows a new message) before the removal.
    // A probe sent before its subscription was set up is never shown, so each try sends a new one.
    await expectEventually(
      async () => {
        const probe = await send(alice, conversationId, 'are you there?');
        await expectEventually(() => expect(inbox.find((c) => c.id === conversationId)).toMatchObject({ lastMessage: { id: probe.id }, unreadCount: expect.any(Number) }), { timeoutMs: 1_000 });
      },
      { timeoutMs: 15_000 },
    );

    // A mention of Bob: the conversation is marked, and the badge counts it, as the counters on Bob's memberships say.
    await send(alice, conversationId, `over to you @${bob.handle}`);
    await expectEventually(() => expect(inbox.find((c) => c.id === conversationId)).toMatchObject({ lastMessage: { body: `over to you @${bob.handle}` }, unreadMentionCount: 1 }));
    const [kept] = await app.services.dataSource.query(
      `SELECT count(*) FILTER (WHERE ms.unread_messages > 0)::int AS conversations, sum(ms.unread_messages)::int AS messages,
         sum(ms.unread_mentions)::int AS mentions FROM memberships ms JOIN users u ON u.id = ms.user_id WHERE u.handle = $1`,
      [bob.handle],
    );
    await expectEventually(() => expect(badge).toEqual({ __typename: 'UnreadTotal', ...kept }));
    expect(kept.mentions).toBe(1);

    await alice.client.mutate({ mutation: RemoveMember, variables: { conversationId, userId: bob.id } });
    await expectEventually(() => expect(inbox.map((c) => c.id)).not.toContain(conversationId));
    await expectEventually(() => expect(errors.map((e) => CombinedGraphQLErrors.is(e) && e.errors[0].extensions?.code)).toEqual(['FORBIDDEN']));
  });
});


describe('refusals Apollo Client reads as GraphQL errors with their code', () => {
  let trusted: TestApp;
  let development: TestApp;
  const disposers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    trusted = await startTestApp({ NODE_ENV: 'production', PERSISTED_QUERIES: 'trusted', PERSISTED_QUERY_MANIFEST: MANIFEST });
    development = await startTestApp({ PERSISTED_QUERIES: 'apq', DATABASE_SCHEMA: trusted.config.database.schema, REDIS_KEY_PREFIX: trusted.config.redis.keyPrefix });
  });
  afterAll(async () => {
    await Promise.all(disposers.map((dispose) => dispose()));
    await development.stop();
    await trusted.stop();
  });

  /** A client with no persisted-query link: it sends documents as text. */
  function plainClient(app: TestApp, token?: string): ApolloClient {
    const parley = createParleyClient({ url: app.wsUrl, token: () => token, webSocketImpl: WebSocket });
    disposers.push(() => parley.dispose());
    return new ApolloClient({
      link: ApolloLink.split((operation) => operation.operationType === 'subscription', new ParleyWsLink(parley), new HttpLink({ uri: app.url, headers: token ? { authorization: `Bearer ${token}` } : {} })),
      cache: new InMemoryCache(),
    });
  }

  const codeOf = (error: unknown) => (CombinedGraphQLErrors.is(error) ? error.errors.map((e) => e.extensions?.code) : error);

  it('PERSISTED_QUERY_NOT_ALLOWED: a document sent as text to a trusted server', async () => {
    const error = await plainClient(trusted).query({ query: apolloGql`{ me { id } }` }).then(() => undefined, (e: unknown) => e);
    expect(codeOf(error)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
  });

  it('QUERY_TOO_COMPLEX: an operation over the cost limit, with its cost', async () => {
    const person = await signUp(development, `cost_${randomUUID().slice(0, 6)}`);
    disposers.push(person.dispose);
    const wide = apolloGql`query Wide($n: Int) { conversations(first: $n) { edges { node { id messages(first: $n) { edges { node { id reactions { emoji } } } } } } } }`;
    const error = await plainClient(development, person.token).query({ query: wide, variables: { n: 100 } }).then(() => undefined, (e: unknown) => e);
    expect(codeOf(error)).toEqual(['QUERY_TOO_COMPLEX']);
    expect((error as CombinedGraphQLErrors).errors[0].extensions).toMatchObject({ cost: 70301, limit: 10000 });
  });

  it('UNAUTHENTICATED: a token that is not valid', async () => {
    const error = await plainClient(development, 'not-a-token').query({ query: apolloGql`{ me { id } }` }).then(() => undefined, (e: unknown) => e);
    expect(codeOf(error)).toEqual(['UNAUTHENTICATED']);
  });

  it('over WebSocket, a refused subscribe reaches the subscriber as an error it can read', async () => {
    const person = await signUp(trusted, `ws_${randomUUID().slice(0, 6)}`);
    disposers.push(person.dispose);
    const client = plainClient(trusted, person.token);
    const result = await new Promise((resolve) => {
      const subscription = client.subscribe({ query: apolloGql`subscription { inboxUpdates { removed } }` }).subscribe({
        next: (value) => {
          subscription.unsubscribe();
          resolve(value);
        },
        error: resolve,
      });
    });
    expect(codeOf((result as { error?: unknown }).error ?? result)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
  });
});
