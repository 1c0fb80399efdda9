import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import { Client as Pg } from 'pg';
import { NGINX, startCluster, type Cluster } from '../../scripts/cluster';
import { gqlData } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { resumingSubscriber as subscriberVia, waitFor } from '../helpers/resuming-subscriber';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/test-app';

/**
 * `npm run cluster`'s topology for real: two Parley processes (the built dist/) on PostgreSQL + Redis
 * behind Debian's nginx. Skipped without nginx unless REQUIRE_NGINX=1 (as in .ci/run).
 */
const available = existsSync(NGINX);
if (!available && process.env.REQUIRE_NGINX === '1') throw new Error(`REQUIRE_NGINX=1 but there is no nginx at ${NGINX} (apt-get install -y nginx-light)`);
const describeWithNginx = available ? describe : describe.skip;

const schema = `cluster_${randomBytes(5).toString('hex')}`;
let workDir: string;
let cluster: Cluster;
let instanceIds: string[];
let alice: { token: string; id: string };
let bob: { token: string; id: string };
let conversationId: string;
const clients: Client[] = [];

async function signUp(handle: string) {
  const { signUp } = await gqlData<{ signUp: { token: string; user: { id: string } } }>(cluster, operation('SignUp'), {
    input: { handle, email: `${handle}@example.com`, displayName: handle, password: 'correct horse battery staple' },
  });
  return { token: signUp.token, id: signUp.user.id };
}

beforeAll(async () => {
  if (!available) return;
  workDir = mkdtempSync(path.join(os.tmpdir(), 'parley-cluster-'));
  cluster = await startCluster({
    databaseUrl: TEST_DATABASE_URL,
    redisUrl: TEST_REDIS_URL,
    workDir,
    env: { DATABASE_SCHEMA: schema, JOBS_SCHEMA: `${schema}_jobs`, REDIS_KEY_PREFIX: `test:${schema}:`, RATE_LIMITS: 'off', SHUTDOWN_TIMEOUT: '2s' },
  });
  instanceIds = await Promise.all(cluster.instances.map(async (i) => (await fetch(i.url.replace(/\/graphql$/, '/healthz'))).headers.get('x-parley-instance')!));
  [alice, bob] = await Promise.all([signUp(`alice_${schema.slice(-5)}`), signUp(`bob_${schema.slice(-5)}`)]);
  const created = await gqlData<{ createConversation: { id: string } }>(cluster, operation('CreateConversation'), { input: { kind: 'GROUP', title: 'cluster', memberIds: [bob.id] } }, { token: alice.token });
  conversationId = created.createConversation.id;
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await cluster?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  if (!available) return;
  const pg = new Pg({ connectionString: TEST_DATABASE_URL });
  await pg.connect();
  await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
  await pg.end();
}, 60_000);

function resumingSubscriber(token: string) {
  const subscriber = subscriberVia(cluster.url.replace(/^http/, 'ws'), token, conversationId);
  clients.push(subscriber.client);
  return subscriber;
}

/** Sends through `url`, retrying with the same clientMessageId until the server acknowledges it. */
async function send(url: string, body: string): Promise<number> {
  const clientMessageId = randomUUID();
  for (let attempt = 0; ; attempt++) {
    try {
      const data = await gqlData<{ sendMessage: { seq: number } }>({ url }, operation('SendMessage'), { input: { conversationId, body, clientMessageId } }, { token: alice.token });
      return data.sendMessage.seq;
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describeWithNginx('npm run cluster: two instances behind nginx', () => {
  it('delivers a message sent through one instance to a subscriber nginx connected to the other', async () => {
    // least_conn spreads new sockets: connect until one lands on instance 2.
    let subscriber;
    for (let i = 0; i < 6 && subscriber?.current() !== instanceIds[1]; i++) {
      subscriber = resumingSubscriber(bob.token);
      await subscriber.subscribed;
    }
    expect(subscriber!.current()).toBe(instanceIds[1]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const seq = await send(cluster.instances[0].url, 'through instance 1');
    await waitFor(() => subscriber!.seqs.includes(seq), 10_000, () => `seq ${seq} on instance 2's subscriber (has ${subscriber!.seqs})`);
  }, 60_000);

  it('moves clients to the survivor when an instance stops, and they resume without loss or duplicates', async () => {
    const subscribers = Array.from({ length: 8 }, () => resumingSubscriber(bob.token));
    await Promise.all(subscribers.map((s) => s.subscribed));
    const onFirst = subscribers.filter((s) => s.current() === instanceIds[0]);
    expect(onFirst.length).toBeGreaterThan(0);
    expect(onFirst.length).toBeLessThan(subscribers.length);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const sent: number[] = [];
    let stopped: Promise<void> | undefined;
    for (let i = 0; i < 60; i++) {
      sent.push(await send(cluster.url, `message ${i}`));
      if (i === 20) stopped = cluster.instances[0].server.stop();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await stopped;

    for (const subscriber of subscribers) {
      await waitFor(
        () => sent.every((seq) => subscriber.seqs.includes(seq)),
        20_000,
        () => `every sent seq (${sent.length}); a subscriber has ${subscriber.seqs.filter((s) => sent.includes(s)).length}`,
      );
      const received = subscriber.seqs.filter((seq) => seq >= sent[0]);
      expect(received).toEqual(sent); // each once, in seq order
    }
    for (const subscriber of onFirst) expect(subscriber.current()).toBe(instanceIds[1]);
    await cluster.restart(0);
  }, 120_000);
});
