import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { ExecutionResult } from 'graphql';
import { fromGlobalId } from '../../src/pagination/global-id';
import { globalUserId, openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/test-app';
import { connectWs, type TestSubscription, type TestWsClient } from '../helpers/ws-client';

let a: TestApp;
let b: TestApp;
let redis: Redis;
const clients: TestWsClient[] = [];

const KEEPALIVE_MS = 200;
const PRESENCE_TTL_MS = 600;

beforeAll(async () => {
  const env = { WS_KEEPALIVE: `${KEEPALIVE_MS}ms`, PRESENCE_TTL: `${PRESENCE_TTL_MS}ms` };
  a = await startTestApp(env);
  b = await startTestApp({ ...env, DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix });
  redis = new Redis(TEST_REDIS_URL);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await b.stop();
  await a.stop();
  await redis.quit();
});

function connect(app: TestApp, member: Member): TestWsClient {
  const client = connectWs(app.wsUrl, { token: member.token });
  clients.push(client);
  return client;
}

async function nextData<T>(subscription: TestSubscription, field: string, timeoutMs = 5_000): Promise<T> {
  const result: ExecutionResult = await subscription.next(timeoutMs);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return (result.data as Record<string, T>)[field];
}

/**
 * Subscribes, then sends probe messages until one comes back as an update: from then on the
 * subscription demonstrably listens. Late echoes of earlier probes are let through and dropped.
 */
async function inboxOf(app: TestApp, member: Member, probe: string): Promise<TestSubscription> {
  const subscription = connect(app, member).subscribe(operation('InboxUpdates'));
  for (;;) {
    await sendMessage(app, member, probe, 'probe');
    const echoed = await subscription.next(200).then(() => true, () => false);
    if (!echoed) continue;
    await new Promise((resolve) => setTimeout(resolve, 200));
    subscription.drain();
    return subscription;
  }
}

describe('inboxUpdates', () => {
  it('reports new messages, read markers, joining and being removed, with the viewer’s unread count', async () => {
    const [ada, bob, cy] = await Promise.all([createUser(a), createUser(a), createUser(a)]);
    const shared = await openConversation(a, [ada, bob]);
    const unrelated = await openConversation(a, [ada, cy]);
    const inbox = await inboxOf(b, bob, shared);

    await sendMessage(a, ada, unrelated, 'not for bob');
    await sendMessage(a, ada, shared, 'for bob');
    expect(await nextData(inbox, 'inboxUpdates')).toMatchObject({ removed: false, unreadCount: 1, conversation: { id: shared, lastMessage: { body: 'for bob' } } });

    const lastSeq = (await runOperation(a, 'MarkRead', { conversationId: shared, seq: 0 }, { token: bob.token })).data!.markRead;
    expect(lastSeq.unreadCount).toBe(1);
    const [{ seq }] = await a.services.dataSource.query(`SELECT last_seq AS seq FROM conversations WHERE id = $1`, [fromGlobalId(shared).id]);
    await runOperation(a, 'MarkRead', { conversationId: shared, seq }, { token: bob.token });
    expect(await nextData(inbox, 'inboxUpdates')).toMatchObject({ unreadCount: 0, conversation: { id: shared } });

    const group = await openConversation(a, [cy, ada]);
    await runOperation(a, 'AddMember', { conversationId: group, userId: globalUserId(bob) }, { token: cy.token });
    expect(await nextData(inbox, 'inboxUpdates')).toMatchObject({ removed: false, conversation: { id: group } });
    await sendMessage(a, cy, group, 'welcome, bob');
    expect(await nextData(inbox, 'inboxUpdates')).toMatchObject({ unreadCount: 1, conversation: { id: group, lastMessage: { body: 'welcome, bob' } } });

    await runOperation(a, 'RemoveMember', { conversationId: group, userId: globalUserId(bob) }, { token: cy.token });
    expect(await nextData(inbox, 'inboxUpdates')).toMatchObject({ removed: true, unreadCount: 0, conversation: { id: group } });
    await sendMessage(a, cy, group, 'bob is gone');
    await expect(inbox.next(300)).rejects.toThrow('timed out');
  });
});

describe('presence', () => {
  /**
   * Subscribes, then connects a probe member until its coming online is reported: from then on the
   * subscription demonstrably listens. The probe then leaves and its offline event is taken too.
   */
  async function presenceOf(app: TestApp, viewer: Member, conversationId: string, probe: Member) {
    const subscription = connect(app, viewer).subscribe(operation('Presence'), { conversationId });
    const probeEvent = async (online: boolean, timeoutMs: number) => {
      for (;;) {
        const event = await nextData<{ online: boolean; user: { handle: string } }>(subscription, 'presence', timeoutMs);
        if (event.user.handle === probe.user.handle && event.online === online) return; // others: the viewer's own socket
      }
    };
    for (;;) {
      const probing = connectWs(app.wsUrl, { token: probe.token });
      await probing.connected;
      const seen = await probeEvent(true, 300).then(() => true, () => false);
      await probing.dispose();
      if (!seen) continue;
      await probeEvent(false, 5_000);
      return subscription;
    }
  }

  it('goes online on connect and offline, with lastSeenAt, when the last socket closes, across instances', async () => {
    const [ada, bob, probe] = await Promise.all([createUser(a), createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob, probe]);
    const presence = await presenceOf(a, ada, id, probe);
    const first = connect(b, bob);
    const second = connect(a, bob);
    await Promise.all([first.connected, second.connected]);
    expect(await nextData(presence, 'presence')).toEqual({ online: true, lastSeenAt: null, user: { id: globalUserId(bob), handle: bob.user.handle } });
    await first.dispose();
    await expect(presence.next(300)).rejects.toThrow('timed out');
    await second.dispose();
    const offline = await nextData<{ online: boolean; lastSeenAt: string }>(presence, 'presence');
    expect(offline).toMatchObject({ online: false, user: { handle: bob.user.handle } });
    const user = await runOperation(b, 'FindUsers', { search: bob.user.handle }, { token: ada.token });
    expect(user.data!.users.edges[0].node.online).toBe(false);
    // The offline event is announced before lastSeenAt is written (announcements keep their order).
    const lastSeenAt = await expectEventually(async () => {
      const [row] = await a.services.dataSource.query(`SELECT last_seen_at AS "lastSeenAt" FROM users WHERE id = $1`, [bob.user.id]);
      expect(row.lastSeenAt).not.toBeNull();
      return row.lastSeenAt as Date;
    });
    expect(new Date(offline.lastSeenAt).getTime()).toBe(lastSeenAt.getTime());
  });

  it('goes offline when a client vanishes without closing (missed keep-alive pong)', async () => {
    const [ada, bob, probe] = await Promise.all([createUser(a), createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob, probe]);
    const presence = await presenceOf(a, ada, id, probe);
    const vanishing = new WebSocket(b.wsUrl, 'graphql-transport-ws', { autoPong: false });
    vanishing.on('open', () => vanishing.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${bob.token}` } })));
    try {
      expect(await nextData(presence, 'presence')).toMatchObject({ online: true, user: { handle: bob.user.handle } });
      const startedAt = Date.now();
      expect(await nextData(presence, 'presence', 5_000)).toMatchObject({ online: false, user: { handle: bob.user.handle } });
      expect(Date.now() - startedAt).toBeLessThan(KEEPALIVE_MS * 2 + 1_000);
    } finally {
      vanishing.terminate();
    }
  });

  it('takes the users of an instance that died off line once its heartbeat lapses', async () => {
    const [ada, ghost, probe] = await Promise.all([createUser(a), createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, ghost, probe]);
    const presence = await presenceOf(a, ada, id, probe);
    // What an instance that was killed leaves behind: its entries, and a heartbeat about to lapse.
    const prefix = a.config.redis.keyPrefix;
    const expiresAt = Date.now() + 100;
    await redis
      .pipeline()
      .hset(`${prefix}presence:user:${ghost.user.id}`, 'dead-instance', expiresAt)
      .sadd(`${prefix}presence:instance:dead-instance`, ghost.user.id)
      .zadd(`${prefix}presence:instances`, expiresAt, 'dead-instance')
      .exec();
    const offline = await nextData<{ online: boolean }>(presence, 'presence', PRESENCE_TTL_MS * 3);
    expect(offline).toMatchObject({ online: false, user: { handle: ghost.user.handle } });
    expect(await redis.zscore(`${prefix}presence:instances`, 'dead-instance')).toBeNull();
    await expectEventually(async () => {
      const [{ lastSeenAt }] = await a.services.dataSource.query(`SELECT last_seen_at AS "lastSeenAt" FROM users WHERE id = $1`, [ghost.user.id]);
      expect(lastSeenAt).not.toBeNull();
    });
  });

  it('also forgets users of a long-dead instance whose own user set already expired', async () => {
    const [ada, ghost, probe] = await Promise.all([createUser(a), createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, ghost, probe]);
    const presence = await presenceOf(a, ada, id, probe);
    // The whole cluster was down longer than the instance set lives: only the online set and a
    // stale heartbeat remain, and nothing says whom the dead instance held.
    const prefix = a.config.redis.keyPrefix;
    const countBefore = await redis.scard(`${prefix}presence:online`);
    await redis
      .pipeline()
      .hset(`${prefix}presence:user:${ghost.user.id}`, 'long-dead-instance', Date.now() - 60_000)
      .sadd(`${prefix}presence:online`, ghost.user.id)
      .zadd(`${prefix}presence:instances`, Date.now() - 60_000, 'long-dead-instance')
      .exec();
    const offline = await nextData<{ online: boolean }>(presence, 'presence', PRESENCE_TTL_MS * 3);
    expect(offline).toMatchObject({ online: false, user: { handle: ghost.user.handle } });
    expect(await redis.sismember(`${prefix}presence:online`, ghost.user.id)).toBe(0);
    expect(await redis.scard(`${prefix}presence:online`)).toBe(countBefore);
  });

  it('refuses a non-member with FORBIDDEN', async () => {
    const [ada, bob, outsider] = await Promise.all([createUser(a), createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const result = await connect(a, outsider).subscribe(operation('Presence'), { conversationId: id }).next();
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });
});
