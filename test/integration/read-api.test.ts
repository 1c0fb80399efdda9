import { toGlobalId } from '../../src/pagination/global-id';
import { createConversation, createMessages, createReaction, setReadMarker } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql } from '../helpers/gql';
import { startTestApp, type TestApp } from '../helpers/test-app';

let app: TestApp;
let alice: { id: string; token: string; handle: string };
let bob: { id: string; token: string; handle: string };
let carol: { id: string; token: string; handle: string };
let shared: string; // alice + bob + carol
let aliceBob: string; // alice + bob only
let sharedMessages: string[];

async function person(handle: string, displayName: string) {
  const { user, token } = await createUser(app, { handle, displayName, email: `${handle}@example.com` });
  return { id: user.id, token, handle };
}

beforeAll(async () => {
  app = await startTestApp({ REDIS_URL: '' });
  alice = await person('alice', 'Alice Liddell');
  bob = await person('bob', 'Bob Dylan');
  carol = await person('carol', 'Carol Danvers');
  shared = await createConversation(app, [alice.id, bob.id, carol.id], { title: 'Tea party' });
  sharedMessages = await createMessages(app, shared, [alice.id, bob.id, carol.id], 6, 'tea');
  aliceBob = await createConversation(app, [alice.id, bob.id], { title: 'Secret garden' });
  await createMessages(app, aliceBob, [bob.id], 2, 'the rabbit hole is deep');
});
afterAll(() => app.stop());

describe('conversations and their fields', () => {
  it('lists the viewer’s conversations, most recent activity first, with viewer-specific fields', async () => {
    await setReadMarker(app, shared, alice.id, 3 + 2); // 3 join events, then messages 1–2 read
    await createReaction(app, sharedMessages[5], bob.id, '🎉');
    await createReaction(app, sharedMessages[5], alice.id, '🎉');
    await createReaction(app, sharedMessages[5], carol.id, '👍');
    const response = await gql<any>(
      app,
      `{ conversations(first: 10) { edges { node { title viewerRole unreadCount lastSeq kind status createdBy { handle }
          lastMessage { body seq author { handle } reactions { emoji count viewerHasReacted } } } } } }`,
      {},
      { token: alice.token },
    );
    expect(response.errors).toBeUndefined();
    const nodes = response.data.conversations.edges.map((e: any) => e.node);
    expect(nodes.map((n: any) => n.title)).toEqual(['Secret garden', 'Tea party']);
    const tea = nodes[1];
    expect(tea).toMatchObject({ viewerRole: 'OWNER', kind: 'GROUP', status: 'OPEN', createdBy: { handle: 'alice' }, lastSeq: 3 + 6 + 3 });
    // messages 3..6 unread; of those alice wrote #4 (authors rotate alice, bob, carol)
    expect(tea.unreadCount).toBe(3);
    expect(tea.lastMessage).toEqual({
      body: 'tea 6',
      seq: 9,
      author: { handle: 'carol' },
      reactions: [
        { emoji: '🎉', count: 2, viewerHasReacted: true },
        { emoji: '👍', count: 1, viewerHasReacted: false },
      ],
    });
  });

  it('pages members in join order with their edge fields and a total count', async () => {
    const query = `query ($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { conversation(id: $id) {
      members(first: $first, after: $after, last: $last, before: $before) { totalCount edges { cursor role lastReadSeq joinedAt node { handle } }
      pageInfo { hasNextPage hasPreviousPage } } } }`;
    const id = toGlobalId('Conversation', shared);
    const first = await gql<any>(app, query, { id, first: 2 }, { token: bob.token });
    const members = first.data.conversation.members;
    expect(members.totalCount).toBe(3);
    expect(members.edges.map((e: any) => [e.node.handle, e.role])).toEqual([['alice', 'OWNER'], ['bob', 'MEMBER']]);
    expect(members.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false });
    const next = await gql<any>(app, query, { id, first: 2, after: members.edges[1].cursor }, { token: bob.token });
    expect(next.data.conversation.members.edges.map((e: any) => e.node.handle)).toEqual(['carol']);
    expect(next.data.conversation.members.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true });
    const back = await gql<any>(app, query, { id, last: 1 }, { token: bob.token });
    expect(back.data.conversation.members.edges.map((e: any) => e.node.handle)).toEqual(['carol']);
    expect(back.data.conversation.members.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true });
  });

  it('filters conversations by status', async () => {
    await app.services.dataSource.query(`UPDATE conversations SET status = 'CLOSED' WHERE id = $1`, [aliceBob]);
    try {
      const closed = await gql<any>(app, `{ conversations(status: CLOSED) { edges { node { title } } } }`, {}, { token: alice.token });
      expect(closed.data.conversations.edges).toEqual([{ node: { title: 'Secret garden' } }]);
    } finally {
      await app.services.dataSource.query(`UPDATE conversations SET status = 'OPEN' WHERE id = $1`, [aliceBob]);
    }
  });
});

describe('authorization', () => {
  it('gives a non-member null for the conversation and its messages, and leaves it out of lists', async () => {
    const conversationId = toGlobalId('Conversation', aliceBob);
    const [messageId] = await app.services.dataSource.query(`SELECT id FROM messages WHERE conversation_id = $1 LIMIT 1`, [aliceBob]);
    const response = await gql<any>(
      app,
      `query ($c: ID!, $m: ID!) { conversation(id: $c) { title } asNode: node(id: $c) { id } message: node(id: $m) { id }
         conversations { edges { node { title } } } }`,
      { c: conversationId, m: toGlobalId('Message', messageId.id) },
      { token: carol.token },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ conversation: null, asNode: null, message: null, conversations: { edges: [{ node: { title: 'Tea party' } }] } });
  });

  it('answers an id that exists nowhere exactly like one the viewer may not see', async () => {
    const missing = toGlobalId('Conversation', '00000000-0000-4000-8000-000000000000');
    const response = await gql<any>(app, `query ($c: ID!) { conversation(id: $c) { id } }`, { c: missing }, { token: carol.token });
    expect(response.data).toEqual({ conversation: null });
  });

  it('resolves every Node type for a member', async () => {
    const ids = [toGlobalId('User', bob.id), toGlobalId('Conversation', shared), toGlobalId('Message', sharedMessages[0])];
    for (const [id, typename] of [[ids[0], 'User'], [ids[1], 'Conversation'], [ids[2], 'Message']]) {
      const node = await gql<any>(app, `query ($id: ID!) { node(id: $id) { __typename id } }`, { id }, { token: carol.token });
      expect(node.data.node).toEqual({ __typename: typename, id });
    }
  });

  it('rejects a malformed id with BAD_USER_INPUT', async () => {
    for (const id of ['nonsense', toGlobalId('User', alice.id)]) {
      const response = await gql(app, `query ($id: ID!) { conversation(id: $id) { id } }`, { id }, { token: alice.token });
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    }
    expect(errorCodes(await gql(app, `{ node(id: "!!") { id } }`, {}, { token: alice.token }))).toEqual(['BAD_USER_INPUT']);
  });

  it('shows a user’s e-mail only to that user', async () => {
    const response = await gql<any>(app, `{ user(handle: "BOB") { handle email } me { email } }`, {}, { token: alice.token });
    expect(response.data).toEqual({ user: { handle: 'bob', email: null }, me: { email: 'alice@example.com' } });
  });

  it('needs a signed-in viewer for every read but me', async () => {
    const response = await gql(app, `{ conversations { edges { cursor } } }`);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('users', () => {
  it('finds users by handle or display-name prefix, in handle order', async () => {
    const search = async (text: string) =>
      (await gql<any>(app, `query ($s: String) { users(search: $s, first: 10) { edges { node { handle } } } }`, { s: text }, { token: alice.token })).data.users.edges.map(
        (e: any) => e.node.handle,
      );
    expect(await search('ca')).toEqual(['carol']);
    expect(await search('BOB')).toEqual(['bob']);
    expect(await search('bob d')).toEqual(['bob']);
    expect(await search('dyl')).toEqual([]); // a prefix of the whole name, not of every word
    expect(await search('%')).toEqual([]);
    expect(await search('')).toEqual(['alice', 'bob', 'carol']);
  });
});

describe('searchMessages', () => {
  it('returns ranked hits only from the viewer’s conversations', async () => {
    const garden = await createConversation(app, [carol.id, alice.id], { title: 'Rabbits' });
    await createMessages(app, garden, [carol.id], 1, 'a rabbit');
    await createMessages(app, garden, [carol.id], 1, 'rabbit rabbit rabbit, said the rabbit');
    const search = async (token: string, text: string, conversationId?: string) =>
      (
        await gql<any>(
          app,
          `query ($q: String!, $c: ID) { searchMessages(query: $q, conversationId: $c) { edges { node { body conversation { title } } } } }`,
          { q: text, c: conversationId },
          { token },
        )
      ).data.searchMessages.edges.map((e: any) => e.node.body);
    expect(await search(carol.token, 'rabbits')).toEqual(['rabbit rabbit rabbit, said the rabbit 1', 'a rabbit 1']);
    expect((await search(alice.token, 'rabbit')).length).toBe(4); // two from the garden, two from "the rabbit hole is deep"
    expect(await search(alice.token, 'rabbit', toGlobalId('Conversation', garden))).toHaveLength(2);
    expect(await search(carol.token, 'hole')).toEqual([]);
    expect(await search(carol.token, 'rabbit', toGlobalId('Conversation', aliceBob))).toEqual([]);
  });

  it('refuses an empty query', async () => {
    expect(errorCodes(await gql(app, `{ searchMessages(query: "  ") { edges { cursor } } }`, {}, { token: alice.token }))).toEqual(['BAD_USER_INPUT']);
  });
});
