import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as Pg } from 'pg';
import { startCluster, type Cluster } from '../../scripts/cluster';
import { signInbound } from '../../src/webhooks/inbound';
import { gqlData } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { resumingSubscriber, waitFor, type ResumingSubscriber } from '../helpers/resuming-subscriber';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/test-app';

/**
 * `kill -9` of one of two instances behind nginx (npm run cluster's topology) while clients are
 * subscribed through it and webhooks are being processed: clients reconnect through nginx to the
 * survivor and resume with afterSeq, missing nothing; jobs the dead instance had started are
 * retried by the survivor once their timeout passes; every webhook becomes exactly one message.
 */
const SECRET = 'killed-instance-webhook-secret';
const schema = `faults_${randomBytes(5).toString('hex')}`;
let workDir: string;
let cluster: Cluster;
let pg: Pg;
const subscribers: ResumingSubscriber[] = [];


beforeAll(async () => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'parley-kill-'));
  cluster = await startCluster({
    databaseUrl: TEST_DATABASE_URL,
    redisUrl: TEST_REDIS_URL,
    workDir,
    env: {
      DATABASE_SCHEMA: schema,
      JOBS_SCHEMA: `${schema}_jobs`,
      REDIS_KEY_PREFIX: `test:${schema}:`,
      RATE_LIMITS: 'off',
      INBOUND_WEBHOOK_SECRET: SECRET,
      JOB_TIMEOUT: '3s',
      JOB_MAINTENANCE_INTERVAL: '1s',
      JOB_RETRY_DELAY: '1s',
      // Subscribers of the frozen, then killed instance may miss more than the default 500 events
      // while 1,000 webhooks are posted; this test is about resuming, not about ResyncRequired.
      REPLAY_LIMIT: '5000',
      WS_MAX_QUEUED_EVENTS: '10000',
    },
  });
  pg = new Pg({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  await pg.connect();
}, 120_000);

afterAll(async () => {
  await Promise.all(subscribers.map((s) => s.client.dispose()));
  await cluster?.stop();
  rmSync(workDir, { recursive: true, force: true });
  await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
  await pg.end();
}, 60_000);

it('moves clients and jobs of a killed instance to the survivor, losing and doubling nothing', async () => {
  const signUp = async (handle: string) =>
    (await gqlData<{ signUp: { token: string; user: { id: string; handle: string } } }>(cluster, operation('SignUp'), { input: { handle, email: `${handle}@example.com`, displayName: handle, password: 'correct horse battery staple' } })).signUp;
  const suffix = schema.slice(-6);
  const [author, reader] = await Promise.all([signUp(`author_${suffix}`), signUp(`reader_${suffix}`)]);
  const conversationId = (await gqlData<{ createConversation: { id: string } }>(cluster, operation('CreateConversation'), { input: { kind: 'SUPPORT', title: 'kill -9', memberIds: [reader.user.id] } }, { token: author.token })).createConversation.id;
  const instanceIds = await Promise.all(cluster.instances.map(async (i) => (await fetch(i.url.replace(/\/graphql$/, '/healthz'))).headers.get('x-parley-instance')!));

  for (let i = 0; i < 8; i++) subscribers.push(resumingSubscriber(cluster.url.replace(/^http/, 'ws'), reader.token, conversationId));
  await Promise.all(subscribers.map((s) => s.subscribed));
  const onVictim = subscribers.filter((s) => s.current() === instanceIds[0]);
  expect(onVictim.length).toBeGreaterThan(0);
  await new Promise((resolve) => setTimeout(resolve, 300));

  // 1,000 webhooks posted through nginx while messages keep coming; instance 1 dies with -9 while
  // it holds some of the webhooks' jobs and serves some of the posts. A post it never answered is
  // posted again, as a gateway does (the same externalEventId: one message).
  const webhooks = Array.from({ length: 1_000 }, (_, i) => ({ externalEventId: `sms-${randomUUID()}`, conversationId, authorHandle: reader.user.handle, body: `inbound ${i}`, sentAt: new Date().toISOString() }));
  const post = async (payload: (typeof webhooks)[number]) => {
    const body = JSON.stringify(payload);
    for (let attempt = 0; ; attempt++) {
      const status = await fetch(cluster.url.replace(/\/graphql$/, '/webhooks/inbound'), { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, body) }, body }).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 202) return;
      if (attempt > 50 || (status >= 400 && status < 500)) throw new Error(`webhook answered ${status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const sent: number[] = [];
  const send = async (body: string) => {
    const clientMessageId = randomUUID();
    for (let attempt = 0; ; attempt++) {
      try {
        return (await gqlData<{ sendMessage: { seq: number } }>(cluster, operation('SendMessage'), { input: { conversationId, body, clientMessageId } }, { token: author.token })).sendMessage.seq;
      } catch (error) {
        if (attempt > 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const sending = (async () => {
    for (let i = 0; i < 40; i++) {
      sent.push(await send(`message ${i}`));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  const posting = Promise.all(webhooks.map(post));

  // Freeze the victim (SIGSTOP) and see whether it holds jobs: what is active as it stops and still
  // active a second later is most likely its (the survivor's take milliseconds, but on a loaded
  // machine a job it fetched may wait its turn for longer). Until it holds some, let it run a moment
  // and look again; then SIGKILL it.
  const victim = cluster.instances[0].server;
  const active = async () => (await pg.query(`SELECT id FROM "${schema}_jobs".job WHERE name = 'inbound-webhook' AND state = 'active'`)).rows.map((r: { id: string }) => r.id);
  let orphaned: string[] = [];
  for (let attempt = 0; orphaned.length === 0 && attempt < 200; attempt++) {
    victim.child.kill('SIGSTOP');
    const atStop = await active();
    if (atStop.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const still = new Set(await active());
      orphaned = atStop.filter((id) => still.has(id));
    }
    if (orphaned.length === 0) {
      victim.child.kill('SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 40));
    }
  }
  await victim.kill();
  await Promise.all([posting, sending]);

  // Every webhook became exactly one message, some of them after their job was retried by the survivor.
  const count = async (sql: string) => Number((await pg.query(sql)).rows[0].n);
  const deadline = Date.now() + 60_000;
  while ((await count(`SELECT count(*) AS n FROM inbound_events`)) < webhooks.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  expect(await count(`SELECT count(*) AS n FROM inbound_events`)).toBe(webhooks.length);
  expect(await count(`SELECT count(*) AS n FROM messages WHERE body LIKE 'inbound %'`)).toBe(webhooks.length);
  // The jobs the dead instance held were failed after JOB_TIMEOUT and completed by the survivor.
  expect(orphaned.length).toBeGreaterThan(0);
  // (Some may have stored their message before the kill: their retry finds it done and completes.)
  const outcomes = async () =>
    (await pg.query(`SELECT state, retry_count FROM "${schema}_jobs".job WHERE id = ANY($1::uuid[]) UNION ALL SELECT state, retry_count FROM "${schema}_jobs".archive WHERE id = ANY($1::uuid[])`, [orphaned])).rows.map(
      (o: { state: string; retry_count: number }) => `${o.state}/${o.retry_count > 0 ? 'retried' : 'first try'}`,
    );
  // A job the survivor had fetched and was slow to start may be among them: it completes on its
  // first try. Every one completes, and the victim's (at least one) on a retry.
  const settledOutcomes = async () => {
    const all = await outcomes();
    return all.every((o) => o.startsWith('completed/')) && all.includes('completed/retried') && all.length === orphaned.length;
  };
  for (let waited = 0; !(await settledOutcomes()) && waited < 30_000; waited += 250) await new Promise((resolve) => setTimeout(resolve, 250));
  const final = await outcomes();
  expect(final.filter((o) => !o.startsWith('completed/'))).toEqual([]);
  expect(final).toHaveLength(orphaned.length);
  expect(final).toContain('completed/retried');
  const retried = final.filter((o) => o === 'completed/retried').length;
  console.log(`${onVictim.length} of ${subscribers.length} subscribers were on the killed instance; ${retried} of ${orphaned.length} webhook jobs active while it was frozen were retried by the survivor`);

  // Every subscriber has every message (the sent ones and the webhooks') exactly once, in seq order.
  const [{ head }] = (await pg.query(`SELECT last_seq AS head FROM conversations`)).rows as { head: number }[];
  const stored = (await pg.query(`SELECT seq FROM messages ORDER BY seq`)).rows.map((r: { seq: number }) => r.seq);
  expect(stored.at(-1)).toBeLessThanOrEqual(head);
  for (const subscriber of subscribers) {
    await waitFor(() => stored.every((seq) => subscriber.seqs.includes(seq)), 30_000, () => `${stored.length} messages; a subscriber has ${subscriber.seqs.length}`);
    expect(subscriber.seqs).toEqual(stored);
  }
  for (const subscriber of onVictim) expect(subscriber.current()).toBe(instanceIds[1]);
}, 170_000);
