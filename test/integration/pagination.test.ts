import { toGlobalId } from '../../src/pagination/global-id';
import { createConversation, createMessages, createReaction } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql } from '../helpers/gql';
import { startTestApp, type TestApp } from '../helpers/test-app';

let app: TestApp;
let token: string;
let viewerId: string;
let conversationId: string;
let messageIds: string[];

const PAGE = `query ($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  conversation(id: $id) { messages(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id seq } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`;

interface Page {
  edges: { cursor: string; node: { id: string; seq: number } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

async function page(args: Record<string, unknown>, id = toGlobalId('Conversation', conversationId)) {
  const response = await gql<{ conversation: { messages: Page } }>(app, PAGE, { id, ...args }, { token });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data!.conversation.messages;
}

beforeAll(async () => {
  app = await startTestApp({ REDIS_URL: '' });
  ({ token, user: { id: viewerId } } = await createUser(app));
  const other = await createUser(app);
  conversationId = await createConversation(app, [viewerId, other.user.id]);
  messageIds = (await createMessages(app, conversationId, [viewerId, other.user.id], 250)).map((id) => toGlobalId('Message', id));
});
afterAll(() => app.stop());

/**
 * Page sizes that reach every edge of 250 rows: divisors (the last page ends exactly at the end)
 * and not, one short of and one past a divisor, the largest. Walking all of 1..100 made 2,600
 * requests, and the walk failed its timeout on a busy machine; size 1 is walked part of the way
 * (see below), as it only repeats what 2 shows.
 */
const EDGE_SIZES = [2, 3, 7, 24, 25, 26, 49, 50, 51, 99, 100];

/** Runs `work` for every edge size, a few at a time. */
async function forEverySize(work: (size: number) => Promise<void>) {
  for (let i = 0; i < EDGE_SIZES.length; i += 4) await Promise.all(EDGE_SIZES.slice(i, i + 4).map(work));
}

describe('messages connection', () => {
  it('visits all 250 messages exactly once, in order, forward with page sizes at every edge', async () => {
    await forEverySize(async (size) => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let index = 0; ; index++) {
        const { edges, pageInfo } = await page({ first: size, after });
        seen.push(...edges.map((e) => e.node.id));
        expect(pageInfo.hasPreviousPage).toBe(index > 0);
        expect(pageInfo.hasNextPage).toBe(seen.length < 250);
        expect(pageInfo.startCursor).toBe(edges[0]?.cursor ?? null);
        expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor ?? null);
        if (!pageInfo.hasNextPage) break;
        after = pageInfo.endCursor;
      }
      expect(seen).toEqual(messageIds);
    });
  });

  it('visits all 250 messages exactly once, in order, backward with page sizes at every edge', async () => {
    await forEverySize(async (size) => {
      const seen: string[] = [];
      let before: string | null = null;
      for (let index = 0; ; index++) {
        const { edges, pageInfo } = await page({ last: size, before });
        seen.unshift(...edges.map((e) => e.node.id));
        expect(pageInfo.hasNextPage).toBe(index > 0);
        expect(pageInfo.hasPreviousPage).toBe(seen.length < 250);
        if (!pageInfo.hasPreviousPage) break;
        before = pageInfo.startCursor;
      }
      expect(seen).toEqual(messageIds);
    });
  });

  it('steps one message at a time from either end, each cursor leading to the next', async () => {
    let after: string | null = null;
    let before: string | null = null;
    for (let index = 0; index < 30; index++) {
      const forward = await page({ first: 1, after });
      const backward = await page({ last: 1, before });
      expect([forward.edges[0].node.id, backward.edges[0].node.id]).toEqual([messageIds[index], messageIds[249 - index]]);
      expect([forward.pageInfo.hasPreviousPage, backward.pageInfo.hasNextPage]).toEqual([index > 0, index > 0]);
      after = forward.pageInfo.endCursor;
      before = backward.pageInfo.startCursor;
    }
  });

  it('turns around: forward to the middle, then backward from there', async () => {
    const forward = await page({ first: 100 });
    const back = await page({ last: 20, before: forward.edges[90].cursor });
    expect(back.edges.map((e) => e.node.seq)).toEqual(forward.edges.slice(70, 90).map((e) => e.node.seq));
    expect(back.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: true });
  });

  it('says there are earlier rows when a forward page past the end is empty', async () => {
    const all = await page({ first: 100, after: (await page({ last: 1 })).pageInfo.endCursor });
    expect(all).toEqual({ edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null } });
  });

  it('defaults to the first 20', async () => {
    const { edges } = await page({});
    expect(edges.map((e) => e.node.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 3));
  });

  it.each([
    [{ first: 0 }, 'first must be between 1 and 100, got 0'],
    [{ first: 101 }, 'first must be between 1 and 100, got 101'],
    [{ last: -5 }, 'last must be between 1 and 100, got -5'],
    [{ first: 5, last: 5 }, 'not both'],
    [{ first: 5, after: 'forged' }, 'is not a cursor Parley issued'],
  ])('refuses %j with BAD_USER_INPUT', async (args, message) => {
    const response = await gql(app, PAGE, { id: toGlobalId('Conversation', conversationId), ...args }, { token });
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors![0].message).toContain(message);
  });

  it('refuses a cursor from another conversation, and one from another list', async () => {
    const other = await createConversation(app, [viewerId]);
    await createMessages(app, other, [viewerId], 3);
    const foreign = (await page({ first: 1 }, toGlobalId('Conversation', other))).pageInfo.endCursor;
    const fromMessages = await gql(app, PAGE, { id: toGlobalId('Conversation', conversationId), first: 1, after: foreign }, { token });
    expect(errorCodes(fromMessages)).toEqual(['BAD_USER_INPUT']);
    expect(fromMessages.errors![0].message).toContain('belongs to another list');
    const members = await gql(
      app,
      `query ($id: ID!, $after: String) { conversation(id: $id) { members(first: 1, after: $after) { totalCount } } }`,
      { id: toGlobalId('Conversation', conversationId), after: (await page({ first: 1 })).pageInfo.endCursor },
      { token },
    );
    expect(errorCodes(members)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('SQL statements per request', () => {
  const NESTED = `query ($n: Int!) { conversations(first: $n) { edges { node {
    lastMessage { author { handle } }
    unreadCount
    members(first: 5) { edges { node { handle } } }
    messages(last: 20) { edges { node { body author { handle } reactions { emoji count } } } }
  } } } }`;

  it('is the same for 2 and for 50 conversations: one per relation per level', async () => {
    const viewer = await createUser(app);
    const friends = await Promise.all(Array.from({ length: 4 }, () => createUser(app)));
    for (let i = 0; i < 50; i++) {
      const id = await createConversation(app, [viewer.user.id, ...friends.map((f) => f.user.id)]);
      const [first] = await createMessages(app, id, [viewer.user.id, ...friends.map((f) => f.user.id)], 25);
      await createReaction(app, first, viewer.user.id, '👍');
    }
    const statements = async (n: number) => {
      app.queries.length = 0;
      app.roundTrips.length = 0;
      const response = await gql<any>(app, NESTED, { n }, { token: viewer.token });
      expect(response.errors).toBeUndefined();
      expect(response.data.conversations.edges).toHaveLength(n);
      // The request's own: this instance's minute flush of live figures may land in the same moment.
      return app.queries.filter((sql) => !sql.includes('metric_instance_minutes'));
    };
    await statements(2); // the viewer's account is then known to be active, and not looked up again for a while
    const two = await statements(2);
    const fifty = await statements(50);
    // The same statements run for 2 parents as for 50.
    const shapes = (sqls: string[]) =>
      [...new Set(sqls.map((sql) => sql.replace(/\s+/g, ' ').replace(/LIMIT \d+/g, 'LIMIT n').replace(/IN \((\$\d+(, )?)+\)/g, 'IN (…)')))].sort();
    expect(shapes(fifty)).toEqual(shapes(two));
    expect(two.length).toBe(5);
    // Keyset only: no statement skips rows (`OFFSET 0` is an optimisation fence, which skips nothing).
    expect(fifty.filter((sql) => /\bOFFSET\s+(?!0\b)/i.test(sql))).toEqual([]);
    // Conversations (with the viewer's memberships, whose counters are unreadCount), lastMessage
    // (with authors), members (with users), messages (with authors), reactions.
    expect(fifty.length).toBe(5);
  });

  it('takes three round trips: the conversations, then the three reads under them together, then the reactions', async () => {
    const viewer = await createUser(app);
    const friend = await createUser(app);
    for (let i = 0; i < 3; i++) {
      const id = await createConversation(app, [viewer.user.id, friend.user.id]);
      const [first] = await createMessages(app, id, [viewer.user.id, friend.user.id], 3);
      await createReaction(app, first, friend.user.id, '🎉');
    }
    const roundTrips = async () => {
      app.roundTrips.length = 0;
      const response = await gql<any>(app, NESTED, { n: 3 }, { token: viewer.token });
      expect(response.errors).toBeUndefined();
      return app.roundTrips.filter((trip) => !trip.some((sql) => sql.includes('metric_instance_minutes')));
    };
    await roundTrips(); // the viewer's account check, cached after the first request
    const trips = await roundTrips();
    expect(trips.map((trip) => trip.length)).toEqual([1, 3, 1]);
    expect(trips[0][0]).toMatch(/JOIN conversations c/);
    expect(trips[1].join('\n')).toMatch(/memberships ms JOIN users/);
    expect(trips[1].join('\n')).toMatch(/messages m JOIN users au/);
    expect(trips[2][0]).toMatch(/FROM reactions/);
  });
});
