import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { Topic } from '../../src/events/topics';
import { fromGlobalId } from '../../src/pagination/global-id';
import { openConversation, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { REDIS_SERVER, startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster';
import { resumingSubscriber, waitFor, type ResumingSubscriber } from '../helpers/resuming-subscriber';
import { startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

/**
 * Two Parley instances on a real Redis Cluster (3 masters, 3 replicas of Debian's redis-server):
 * events cross instances over sharded channels (each on the shard of its slot), rate limits stay
 * exact, and a master killed mid-stream (its replica promoted) loses no acknowledged message for
 * subscribers that resume. Skipped without redis-server unless REQUIRE_REDIS_CLUSTER=1 (.ci/run).
 */
const available = existsSync(REDIS_SERVER);
if (!available && process.env.REQUIRE_REDIS_CLUSTER === '1') throw new Error(`REQUIRE_REDIS_CLUSTER=1 but there is no redis-server at ${REDIS_SERVER}`);
const describeWithCluster = available ? describe : describe.skip;

const schema = `rc_${randomBytes(5).toString('hex')}`;
let cluster: TestRedisCluster;
const apps: TestApp[] = [];
const sockets: TestWsClient[] = [];
const subscribers: ResumingSubscriber[] = [];

const send = (app: TestApp, author: Member, conversationId: string, body: string) =>
  runOperation(app, 'SendMessage', { input: { conversationId, body, clientMessageId: randomUUID() } }, { token: author.token });
/** The sharded channel a conversation's events travel on. */
const channelOf = (app: TestApp, conversationId: string) => `${app.config.redis.keyPrefix}${Topic.conversation(fromGlobalId(conversationId).id)}`;

describeWithCluster('on a Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster();
    const env = { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes, DATABASE_SCHEMA: schema, RATE_LIMITS: 'on', REDIS_COMMAND_TIMEOUT: '1s' };
    apps.push(await startTestApp(env), await startTestApp(env));
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...sockets.map((s) => s.dispose()), ...subscribers.map((s) => s.client.dispose())]);
    for (const app of apps) await app.stop();
    await cluster?.stop();
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
    await pg.end();
  }, 60_000);

  it('delivers across instances over sharded channels, each on the shard that owns its slot', async () => {
    const [a, b] = apps;
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const conversations = await Promise.all(Array.from({ length: 6 }, () => openConversation(a, [ada, bob])));
    const socket = connectWs(b.wsUrl, { token: bob.token });
    sockets.push(socket);
    const streams = conversations.map((conversationId) => socket.subscribe(operation('ConversationEvents'), { conversationId, afterSeq: 0 }));
    for (const [i, conversationId] of conversations.entries()) {
      for (let n = 0; n < 3; n++) expect(errorCodes(await send(i % 2 ? a : b, ada, conversationId, `c${i} m${n}`))).toEqual([]);
    }
    for (const stream of streams) {
      const bodies: string[] = [];
      while (bodies.length < 3) {
        const event = ((await stream.next(15_000)).data as { conversationEvents: { __typename: string; message?: { body: string } } }).conversationEvents;
        if (event.__typename === 'MessageAdded') bodies.push(event.message!.body);
      }
      expect(bodies).toEqual([0, 1, 2].map((n) => expect.stringMatching(new RegExp(`^c\\d m${n}$`))));
    }

    // Sharded, not broadcast: each channel is subscribed on its own shard's master, with SSUBSCRIBE.
    const masters = new Set<number>();
    for (const conversationId of conversations) {
      const channel = channelOf(b, conversationId);
      const master = await cluster.masterOf(channel);
      masters.add(master.port);
      const node = new Redis({ port: master.port, host: '127.0.0.1' });
      try {
        expect(await node.call('PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
        expect(await node.call('PUBSUB', 'NUMSUB', channel)).toEqual([channel, 0]);
      } finally {
        node.disconnect();
      }
    }
    expect(masters.size).toBeGreaterThan(1);

    // Presence (scripts and pipelines over several keys, in one slot by their hash tag) works on the cluster too.
    const seen = await runOperation(a, 'Me', {}, { token: bob.token });
    expect(seen.data!.me.online).toBe(true);
    // And nothing was refused for crossing slots.
    const crossSlot = apps.flatMap((app) => app.logs).filter((line) => /CROSSSLOT|non local key|same slot/i.test(JSON.stringify(line)));
    expect(crossSlot).toEqual([]);
  });

  it('keeps rate limits exact across instances: 30 of 50 concurrent sends', async () => {
    const [a, b] = apps;
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i % 2 === 0 ? a : b, ada, id, `burst ${i}`)));
    const codes = responses.map((r) => errorCodes(r)[0] ?? 'OK');
    expect(codes.filter((c) => c === 'OK')).toHaveLength(30);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(20);
  });

  it('loses no acknowledged message when the master of a conversation’s slot is killed mid-stream', async () => {
    const [a, b] = apps;
    const [author, reader] = await Promise.all([createUser(a), createUser(a)]);
    const conversationId = await openConversation(a, [author, reader]);
    for (const app of apps) for (let i = 0; i < 2; i++) subscribers.push(resumingSubscriber(app.wsUrl, reader.token, conversationId));
    await Promise.all(subscribers.map((s) => s.subscribed));

    const sent: number[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending; i++) {
        // A send refused by the rate limit (30 per 10 s) is not acknowledged: it is not expected.
        const response = await send(i % 2 ? a : b, author, conversationId, `m${i}`);
        if (!response.errors) sent.push(response.data!.sendMessage.seq);
        else expect(errorCodes(response)).toEqual(['RATE_LIMITED']);
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    })();
    await waitFor(() => sent.length >= 5, 20_000, () => `${sent.length} sent`);
    const channel = channelOf(a, conversationId);
    await cluster.kill(await cluster.masterOf(channel));
    await cluster.healthy({ key: channel });
    const afterFailover = sent.length;
    await waitFor(() => sent.length >= afterFailover + 5, 30_000, () => `${sent.length} sent`);
    sending = false;
    await sender;

    for (const subscriber of subscribers) {
      await waitFor(() => sent.every((seq) => subscriber.seqs.includes(seq)), 30_000, () => `${sent.length} acknowledged; a subscriber has ${subscriber.seqs.length}`);
      expect(subscriber.seqs.filter((seq) => seq >= sent[0])).toEqual(sent.filter((seq, i) => sent.indexOf(seq) === i).sort((x, y) => x - y));
    }
  }, 120_000);
});
