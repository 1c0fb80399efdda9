import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { Client as Pg } from 'pg';
import { toGlobalId } from '../../src/pagination/global-id';
import { freePort } from '../../scripts/lib/node-server';
import { createConversation } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { gql } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { resumingSubscriber, waitFor, type ResumingSubscriber } from '../helpers/resuming-subscriber';
import { TEST_DATABASE_URL, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Redis stopped for 10 s under two instances while messages keep being sent — a redis-server of
 * this test's own, really stopped and started. PostgreSQL is the source of truth: every send is
 * still acknowledged, both instances stay ready (/readyz says degraded, and so does a metric), they
 * reconnect on their own, and every subscriber on either instance ends with every message exactly
 * once, in seq order.
 */
let redis: ChildProcess | undefined;
let redisPort: number;
const schema = `faults_${randomBytes(5).toString('hex')}`;
const apps: TestApp[] = [];
const subscribers: ResumingSubscriber[] = [];

function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const accepts = () =>
    new Promise<void>((resolve, reject) => {
      const socket = createConnection(redisPort, '127.0.0.1');
      socket.once('connect', () => resolve(void socket.destroy())).once('error', reject);
    });
  return expectEventually(accepts, { timeoutMs: 10_000 });
}

async function stopRedis(): Promise<void> {
  const child = redis!;
  if (child.exitCode !== null) return;
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

const readyz = (app: TestApp) => fetch(app.url.replace(/\/graphql$/, '/readyz')).then(async (r) => ({ status: r.status, body: await r.json() }));
const redisUp = (app: TestApp) =>
  fetch(app.url.replace(/\/graphql$/, '/metrics'))
    .then((r) => r.text())
    .then((text) => Number(/^parley_dependency_up\{dependency="redis"\} (\S+)$/m.exec(text)?.[1]));
const ready = { status: 200, body: { status: 'ready', checks: { database: 'up', redis: 'up' } } };
const degraded = { status: 200, body: { status: 'degraded', checks: { database: 'up', redis: 'down' } } };

beforeAll(async () => {
  redisPort = await freePort();
  await startRedis();
  const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATABASE_SCHEMA: schema, LOG_LEVEL: 'silent', REDIS_COMMAND_TIMEOUT: '500ms' };
  apps.push(await startTestApp(env));
  apps.push(await startTestApp(env));
}, 60_000);

afterAll(async () => {
  await Promise.all(subscribers.map((s) => s.client.dispose()));
  for (const app of apps) await app.stop();
  await stopRedis();
  const pg = new Pg({ connectionString: TEST_DATABASE_URL });
  await pg.connect();
  await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
  await pg.end();
}, 60_000);

it('acknowledges every send through a 10 s Redis outage and delivers each to every subscriber once, in order', async () => {
  const [author, reader] = await Promise.all([createUser(apps[0]), createUser(apps[0])]);
  const conversationId = toGlobalId('Conversation', await createConversation(apps[0], [author.user.id, reader.user.id]));
  for (const app of apps) for (let i = 0; i < 3; i++) subscribers.push(resumingSubscriber(app.wsUrl, reader.token, conversationId));
  await Promise.all(subscribers.map((s) => s.subscribed));
  await new Promise((resolve) => setTimeout(resolve, 300));

  const sent: number[] = [];
  const sender = (async () => {
    const until = Date.now() + 16_000;
    for (let i = 0; Date.now() < until; i++) {
      // Alternate instances: publishers on both sides of the outage.
      const response = await gql(apps[i % 2], operation('SendMessage'), { input: { conversationId, body: `m${i}`, clientMessageId: randomUUID() } }, { token: author.token });
      expect(response.errors).toBeUndefined(); // acknowledged, Redis or not
      sent.push((response.data as any).sendMessage.seq);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  await new Promise((resolve) => setTimeout(resolve, 3_000));
  await stopRedis();
  // Still ready: the balancer keeps sending traffic, which the sender shows is served.
  await expectEventually(async () => expect(await Promise.all(apps.map(readyz))).toEqual([degraded, degraded]), { timeoutMs: 5_000 });
  expect(await Promise.all(apps.map(redisUp))).toEqual([0, 0]);
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  await startRedis();
  await sender;
  await expectEventually(async () => expect(await Promise.all(apps.map(readyz))).toEqual([ready, ready]), { timeoutMs: 20_000 });
  expect(await Promise.all(apps.map(redisUp))).toEqual([1, 1]);

  expect(sent.length).toBeGreaterThan(100);
  for (const subscriber of subscribers) {
    await waitFor(() => sent.every((seq) => subscriber.seqs.includes(seq)), 20_000, () => `${sent.length} messages; a subscriber has ${subscriber.seqs.length}`);
    expect(subscriber.seqs.filter((seq) => seq >= sent[0])).toEqual(sent); // each once, in seq order
  }
}, 120_000);
