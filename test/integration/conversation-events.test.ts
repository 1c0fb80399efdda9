import { randomUUID } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { fromGlobalId, toGlobalId } from '../../src/pagination/global-id';
import { createTokenService } from '../../src/security/jwt';
import { removeMember } from '../../src/services/memberships';
import { sendMessage as sendWithoutPublishing } from '../../src/services/messages';
import type { EventBus } from '../../src/events/bus';
import { globalUserId, openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { startTestApp, TEST_JWT_SECRET, TEST_REDIS_URL, type TestApp } from '../helpers/test-app';
import { connectWs, type TestSubscription, type TestWsClient } from '../helpers/ws-client';

/** Two instances on one database and one Redis, as behind a load balancer. */
let a: TestApp;
let b: TestApp;
let ada: Member;
let bob: Member;
const clients: TestWsClient[] = [];

const TYPING_TIMEOUT_MS = 300;

beforeAll(async () => {
  a = await startTestApp({ TYPING_TIMEOUT: `${TYPING_TIMEOUT_MS}ms` });
  b = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix, TYPING_TIMEOUT: `${TYPING_TIMEOUT_MS}ms` });
  [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await b.stop();
  await a.stop();
});

function connect(app: TestApp, member: Member): TestWsClient {
  const client = connectWs(app.wsUrl, { token: member.token });
  clients.push(client);
  return client;
}

function follow(client: TestWsClient, conversationId: string, afterSeq?: number): TestSubscription {
  return client.subscribe(operation('ConversationEvents'), { conversationId, afterSeq });
}

type Event = { __typename: string; seq: number | null; [field: string]: any };

/** The next `count` events of a subscription, failing on any error. */
async function take(subscription: TestSubscription, count: number, timeoutMs = 10_000): Promise<Event[]> {
  const events: Event[] = [];
  while (events.length < count) {
    const result: ExecutionResult = await subscription.next(timeoutMs);
    if (result.errors) throw new Error(`subscription error: ${JSON.stringify(result.errors)}`);
    events.push((result.data as { conversationEvents: Event }).conversationEvents);
  }
  return events;
}

/**
 * What a subscription refused at set-up (authorization, arguments) answers: graphql-js returns those
 * errors as the operation's single result, and graphql-ws then completes the operation.
 */
async function refusal(subscription: TestSubscription) {
  const result = await subscription.next();
  expect(await subscription.finished()).toEqual({});
  return result.errors!.map((e) => ({ message: e.message, code: e.extensions?.code }));
}

/** A bus that loses everything: a change made through it is committed but never published. */
const silentBus = { publishTo: async () => undefined } as unknown as EventBus;

/** Sends a message whose publish is lost. */
function sendSilently(author: Member, conversationId: string, body: string) {
  const deps = { dataSource: a.services.dataSource, sql: a.services.sql, bus: silentBus, logger: a.services.logger };
  return sendWithoutPublishing(deps, author.user.id, { conversationId: fromGlobalId(conversationId).id, body, clientMessageId: randomUUID() }, 4000).then(({ message }) => message);
}

/** Drops an instance's Redis subscriber connection, as a Redis restart would; ioredis reconnects it. */
async function killSubscriberConnection(app: TestApp): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const clients = String(await redis.client('LIST')).split('\n');
    const subscriber = clients.find((line) => line.includes(`name=parley:${app.instanceId}`) && / sub=[1-9]/.test(line));
    if (!subscriber) throw new Error(`no subscriber connection of ${app.instanceId}`);
    await redis.client('KILL', 'ID', /(?:^| )id=(\d+)/.exec(subscriber)![1]);
  } finally {
    await redis.quit();
  }
}

const seqs = (events: Event[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('conversationEvents across instances', () => {
  it('delivers a message sent through instance A to a subscriber on instance B, once', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscription = follow(connect(b, bob), id, 2);
    const sent = await sendMessage(a, ada, id, 'hello from A');
    const [event] = await take(subscription, 1);
    expect(event).toMatchObject({ __typename: 'MessageAdded', seq: sent.seq, conversationId: id, message: { id: sent.id, body: 'hello from A', author: { handle: ada.user.handle } } });
    await expect(subscription.next(300)).rejects.toThrow('timed out');
  });

  it('without afterSeq, delivers everything from the moment it is set up, every seq once', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscription = follow(connect(b, bob), id);
    const sent: number[] = [];
    let first: Event | undefined;
    while (!first) {
      sent.push((await sendMessage(a, ada, id, `ping ${sent.length}`)).seq);
      first = await take(subscription, 1, 50).then(([event]) => event, () => undefined);
    }
    for (let i = 0; i < 5; i++) sent.push((await sendMessage(a, ada, id, `then ${i}`)).seq);
    const rest = await take(subscription, sent.at(-1)! - first.seq!);
    expect(seqs([first, ...rest])).toEqual(range(first.seq!, sent.at(-1)!));
    await expect(subscription.next(300)).rejects.toThrow('timed out');
  });

  it('delivers 1,000 messages from 5 concurrent senders on both instances to a subscriber on each, every seq once and in order', async () => {
    const senders = await Promise.all(Array.from({ length: 5 }, () => createUser(a)));
    const id = await openConversation(a, [ada, ...senders]);
    const head = 6;
    const onA = follow(connect(a, ada), id, head);
    const onB = follow(connect(b, ada), id, head);
    await Promise.all(
      senders.map(async (sender, s) => {
        for (let i = 0; i < 200; i++) await sendMessage(i % 2 === 0 ? a : b, sender, id, `sender ${s} message ${i}`);
      }),
    );
    for (const subscription of [onA, onB]) {
      const events = await take(subscription, 1000);
      expect(seqs(events)).toEqual(range(head + 1, head + 1000));
      expect(new Set(events.map((e) => e.message.id)).size).toBe(1000);
    }
  }, 60_000);
});

describe('resume and repair', () => {
  it('replays exactly what a client missed while away, then continues live', async () => {
    const id = await openConversation(a, [ada, bob]);
    const first = await sendMessage(a, ada, id, 'before the drop');
    const client = connect(b, bob);
    const [seen] = await take(follow(client, id, first.seq - 1), 1);
    expect(seen.seq).toBe(first.seq);
    await client.dispose();

    const missed = [];
    for (let i = 0; i < 50; i++) missed.push(await sendMessage(a, ada, id, `while away ${i}`));
    await runOperation(a, 'EditMessage', { id: missed[10].id, body: 'edited while away' }, { token: ada.token });

    const resumed = follow(connect(b, bob), id, seen.seq!);
    const replayed = await take(resumed, 51);
    expect(seqs(replayed)).toEqual(range(first.seq + 1, first.seq + 51));
    expect(replayed.at(-1)).toMatchObject({ __typename: 'MessageEdited', message: { id: missed[10].id, body: 'edited while away' } });
    const live = await sendMessage(a, ada, id, 'back live');
    expect(await take(resumed, 1)).toMatchObject([{ seq: live.seq, message: { id: live.id } }]);
    await expect(resumed.next(300)).rejects.toThrow('timed out');
  });

  it('backfills from the log an event whose publish was lost, when the next one arrives', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscription = follow(connect(b, bob), id, 2);
    // A live event first, so what follows cannot be caught up by the initial replay.
    await sendMessage(a, ada, id, 'live');
    await take(subscription, 1);
    const lost = await sendSilently(ada, id, 'never published');
    const next = await sendMessage(a, ada, id, 'published');
    expect((await take(subscription, 2)).map((e) => [e.seq, e.message.body])).toEqual([
      [lost.seq, 'never published'],
      [next.seq, 'published'],
    ]);
  });

  it('reads a gap that many subscribers see with one statement, shared by all of them', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscriptions = Array.from({ length: 6 }, () => follow(connect(b, bob), id, 2));
    await sendMessage(a, ada, id, 'live');
    await Promise.all(subscriptions.map((subscription) => take(subscription, 1)));
    const lost = await sendSilently(ada, id, 'never published');
    b.queries.length = 0;
    const next = await sendMessage(a, ada, id, 'published');
    for (const subscription of subscriptions) expect(seqs(await take(subscription, 2))).toEqual([lost.seq, next.seq]);
    expect(b.queries.filter((sql) => sql.includes('FROM conversation_events'))).toHaveLength(1);
  });

  it('reads a gap again while PostgreSQL is too busy to answer, and the subscription carries on', async () => {
    // Two pooled connections, and a wait for one of a millisecond: holding both makes every read fail.
    const busy = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix, DATABASE_POOL_MAX: '2', DATABASE_POOL_QUEUE_TIMEOUT: '1ms' });
    try {
      const id = await openConversation(a, [ada, bob]);
      const subscription = follow(connect(busy, bob), id, 2);
      await sendMessage(a, ada, id, 'live');
      await take(subscription, 1);
      const pool = (busy.services.dataSource.driver as unknown as { master: Pool }).master;
      const held = await Promise.all([pool.connect(), pool.connect()]);
      let released = false;
      try {
        const lost = await sendSilently(ada, id, 'never published');
        const next = await sendMessage(a, ada, id, 'published');
        // The backfill is refused (no connection) and tried again after a backoff, not given up.
        await expect(subscription.next(1_000)).rejects.toThrow('timed out');
        held.forEach((client) => client.release());
        released = true;
        expect((await take(subscription, 2)).map((e) => [e.seq, e.message.body])).toEqual([
          [lost.seq, 'never published'],
          [next.seq, 'published'],
        ]);
      } finally {
        if (!released) held.forEach((client) => client.release());
      }
    } finally {
      await busy.stop();
    }
  });

  it('catches up with the log when the bus reconnects, so a lost last event still arrives', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscription = follow(connect(b, bob), id, 2);
    await sendMessage(a, ada, id, 'live');
    await take(subscription, 1);
    const lost = await sendSilently(ada, id, 'lost while the bus was away');
    await killSubscriberConnection(b);
    expect(await take(subscription, 1)).toMatchObject([{ seq: lost.seq, message: { body: 'lost while the bus was away' } }]);
  });

  it('sends ResyncRequired for a live gap larger than the replay limit, then ends a subscriber the gap removed', async () => {
    const small = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix, REPLAY_LIMIT: '5' });
    const client = connectWs(small.wsUrl, { token: bob.token });
    try {
      const cy = await createUser(a);
      const id = await openConversation(a, [ada, bob, cy]);
      const subscription = follow(client, id, 3);
      await sendMessage(a, ada, id, 'live');
      await take(subscription, 1);
      for (let i = 0; i < 6; i++) await sendSilently(ada, id, `unpublished ${i}`);
      const after = await sendMessage(a, ada, id, 'after the gap');
      expect(await take(subscription, 2)).toMatchObject([
        { __typename: 'ResyncRequired', fromSeq: 5 },
        { seq: after.seq },
      ]);
      // Removed inside a gap too large to replay: the server looks at the membership again.
      const silent = { dataSource: a.services.dataSource, bus: silentBus, logger: a.services.logger };
      await removeMember(silent, ada.user.id, fromGlobalId(id).id, bob.user.id);
      for (let i = 0; i < 6; i++) await sendSilently(ada, id, `more ${i}`);
      await sendMessage(a, ada, id, 'bob is gone');
      expect((await take(subscription, 1))[0].__typename).toBe('ResyncRequired');
      const { error } = await subscription.finished();
      expect(error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
    } finally {
      await client.dispose();
      await small.stop();
    }
  });

  it('ends the subscription of a member whose removal arrives through a backfilled gap', async () => {
    const cy = await createUser(a);
    const id = await openConversation(a, [ada, bob, cy]);
    const subscription = follow(connect(b, cy), id, 3);
    await sendMessage(a, ada, id, 'live');
    await take(subscription, 1);
    await removeMember({ dataSource: a.services.dataSource, bus: silentBus, logger: a.services.logger }, ada.user.id, fromGlobalId(id).id, cy.user.id);
    await sendMessage(a, ada, id, 'cy must not see this');
    const { error } = await subscription.finished();
    expect(error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
    expect(subscription.drain()).toEqual([]);
  });

  it('sends one ResyncRequired, then live events, when more than the replay limit was missed', async () => {
    const small = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix, REPLAY_LIMIT: '10' });
    try {
      const id = await openConversation(a, [ada, bob]);
      for (let i = 0; i < 11; i++) await sendMessage(a, ada, id, `flood ${i}`);
      const client = connectWs(small.wsUrl, { token: bob.token });
      try {
        const subscription = follow(client, id, 2);
        expect(await take(subscription, 1)).toMatchObject([{ __typename: 'ResyncRequired', seq: null, fromSeq: 3 }]);
        const live = await sendMessage(a, ada, id, 'after the resync');
        expect(await take(subscription, 1)).toMatchObject([{ seq: live.seq }]);
        // Within the limit, the same client replays normally.
        expect(seqs(await take(follow(client, id, 10), 4))).toEqual(range(11, 14));
      } finally {
        await client.dispose();
      }
    } finally {
      await small.stop();
    }
  });

  it('refuses afterSeq beyond the last seq, or below zero, with BAD_USER_INPUT', async () => {
    const id = await openConversation(a, [ada, bob]);
    const client = connect(a, bob);
    expect(await refusal(follow(client, id, 3))).toEqual([{ code: 'BAD_USER_INPUT', message: "afterSeq 3 is beyond the conversation's last seq, 2." }]);
    expect(await refusal(follow(client, id, -1))).toEqual([{ code: 'BAD_USER_INPUT', message: 'afterSeq must be ≥ 0, got -1.' }]);
  });
});

describe('authorization', () => {
  it('refuses a non-member with FORBIDDEN and keeps the socket open', async () => {
    const outsider = await createUser(a);
    const id = await openConversation(a, [ada, bob]);
    const client = connect(a, outsider);
    expect(await refusal(follow(client, id))).toEqual([{ code: 'FORBIDDEN', message: 'Only members can follow a conversation.' }]);
    const own = await openConversation(a, [outsider, ada]);
    const subscription = follow(client, own, 2);
    await sendMessage(a, ada, own, 'still connected');
    expect(await take(subscription, 1)).toMatchObject([{ __typename: 'MessageAdded' }]);
  });

  it('refuses an anonymous subscriber with UNAUTHENTICATED', async () => {
    const id = await openConversation(a, [ada, bob]);
    const client = connectWs(a.wsUrl);
    clients.push(client);
    expect(await refusal(follow(client, id))).toEqual([{ code: 'UNAUTHENTICATED', message: expect.any(String) }]);
  });

  it('ends a removed member’s subscription with FORBIDDEN', async () => {
    const cy = await createUser(a);
    const id = await openConversation(a, [ada, bob, cy]);
    const subscription = follow(connect(b, cy), id, 3);
    await sendMessage(a, ada, id, 'you are still here');
    await take(subscription, 1);
    await runOperation(a, 'RemoveMember', { conversationId: id, userId: globalUserId(cy) }, { token: ada.token });
    const { error } = await subscription.finished();
    expect(error).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })]);
  });
});

describe('what a subscriber sees', () => {
  it('resolves every event with fresh data, not what an earlier event loaded', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscription = follow(connect(a, bob), id, 2);
    // Live first: a subscriber still catching up reads a message as it is by then (already edited),
    // which is right for a replay but not what this test is about.
    await sendMessage(a, ada, id, 'hello');
    await take(subscription, 1);
    const sent = await sendMessage(a, ada, id, 'first draft');
    await runOperation(b, 'EditMessage', { id: sent.id, body: 'second draft' }, { token: ada.token });
    await runOperation(b, 'DeleteMessage', { id: sent.id }, { token: ada.token });
    expect((await take(subscription, 3)).map((e) => [e.__typename, e.message.body ?? e.message.deletedAt])).toEqual([
      ['MessageAdded', 'first draft'],
      ['MessageEdited', 'second draft'],
      ['MessageDeleted', expect.any(String)],
    ]);
  });

  it('carries a conversation over one Redis subscriber connection per instance, however many clients follow it', async () => {
    const id = await openConversation(a, [ada, bob]);
    const followers = Array.from({ length: 20 }, (_, i) => follow(connect(i % 4 === 0 ? b : a, bob), id, 2));
    const sent = await sendMessage(a, ada, id, 'to everyone');
    for (const follower of followers) expect(await take(follower, 1)).toMatchObject([{ seq: sent.seq }]);
    const channel = `${a.config.redis.keyPrefix}conversation:${fromGlobalId(id).id}`;
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.pubsub('NUMSUB', channel)).toEqual([channel, 2]);
    } finally {
      await redis.quit();
    }
  });

  it('executes each event once for all subscribers sharing a document, and per subscriber when it depends on the viewer', async () => {
    const id = await openConversation(a, [ada, bob]);
    const shared = Array.from({ length: 10 }, () => follow(connect(a, bob), id, 2));
    const ownView = `subscription ($id: ID!, $after: Int) { conversationEvents(conversationId: $id, afterSeq: $after) {
      seq ... on MessageAdded { message { reactions { emoji viewerHasReacted } } } } }`;
    const perViewer = Array.from({ length: 3 }, () => connect(a, bob).subscribe(ownView, { id, after: 2 }));
    // Subscribed: each has replayed nothing yet and waits live.
    await sendMessage(a, ada, id, 'warm up');
    for (const s of [...shared, ...perViewer]) await s.next();
    a.queries.length = 0;
    // Through the service, so the only reads that follow are the subscribers'.
    const deps = { dataSource: a.services.dataSource, sql: a.services.sql, bus: a.services.bus, logger: a.services.logger };
    const { message: sent } = await sendWithoutPublishing(deps, ada.user.id, { conversationId: fromGlobalId(id).id, body: 'once for all', clientMessageId: randomUUID() }, 4000);
    for (const s of shared) expect((await take(s, 1))[0]).toMatchObject({ seq: sent.seq, message: { id: toGlobalId('Message', sent.id) } });
    for (const s of perViewer) await s.next();
    const messageLookups = a.queries.filter((sql) => /FROM messages t WHERE t\.id = ANY/.test(sql));
    const reactionLookups = a.queries.filter((sql) => /FROM reactions/.test(sql));
    // The event carries its message: no subscriber reads it; the reactions' viewerHasReacted is read per viewer.
    expect({ messageLookups: messageLookups.length, reactionLookups: reactionLookups.length }).toEqual({ messageLookups: 0, reactionLookups: 3 });
  });

  it('publishes nothing for an idempotent retry', async () => {
    const id = await openConversation(a, [ada, bob]);
    const subscription = follow(connect(a, bob), id, 2);
    const key = randomUUID();
    const first = await sendMessage(b, ada, id, 'once', key);
    const publishTo = jest.spyOn(b.services.bus, 'publishTo');
    try {
      await sendMessage(b, ada, id, 'once', key);
      expect(publishTo).not.toHaveBeenCalled();
    } finally {
      publishTo.mockRestore();
    }
    const second = await sendMessage(b, ada, id, 'twice');
    expect((await take(subscription, 2)).map((e) => e.message.id)).toEqual([first.id, second.id]);
  });

  it('sees reactions, status changes, read receipts and typing that stops on its own', async () => {
    const id = await openConversation(a, [ada, bob]);
    const message = await sendMessage(a, ada, id, 'react');
    const subscription = follow(connect(a, bob), id, message.seq);
    await runOperation(b, 'AddReaction', { messageId: message.id, emoji: '🎉' }, { token: ada.token });
    expect(await take(subscription, 1)).toMatchObject([
      { __typename: 'ReactionChanged', seq: 4, emoji: '🎉', added: true, user: { handle: ada.user.handle }, message: { id: message.id } },
    ]);
    // Ephemeral events are not replayed: only now is the subscription known to listen.
    await runOperation(b, 'MarkRead', { conversationId: id, seq: 4 }, { token: bob.token });
    await runOperation(b, 'CloseConversation', { id }, { token: ada.token });
    expect(await take(subscription, 2)).toMatchObject([
      { __typename: 'ReadReceipt', seq: null, lastReadSeq: 4, user: { id: globalUserId(bob) } },
      { __typename: 'ConversationStatusChanged', seq: 5, status: 'CLOSED' },
    ]);
    await runOperation(b, 'ReopenConversation', { id }, { token: ada.token });
    await take(subscription, 1);
    const startedAt = Date.now();
    expect(errorCodes(await runOperation(b, 'SetTyping', { conversationId: id, typing: true }, { token: ada.token }))).toEqual([]);
    expect(await take(subscription, 1)).toMatchObject([{ __typename: 'TypingChanged', seq: null, typing: true, user: { handle: ada.user.handle } }]);
    expect(await take(subscription, 1)).toMatchObject([{ __typename: 'TypingChanged', typing: false, user: { handle: ada.user.handle } }]);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(TYPING_TIMEOUT_MS - 50);
  });
});

describe('token expiry', () => {
  it('closes a socket with 4403 when its token expires', async () => {
    // Long enough to connect on a machine loaded by a benchmark beside the suite (at 1 s it was not).
    const shortLived = await createTokenService({ secret: TEST_JWT_SECRET, ttlSeconds: 4 }).issue(bob.user.id);
    const client = connectWs(a.wsUrl, { token: shortLived });
    clients.push(client);
    await client.connected;
    const { code, reason } = await client.closed;
    expect({ code, reason }).toEqual({ code: 4403, reason: 'Token expired' });
  }, 60_000);
});
