import { createHash, randomUUID } from 'node:crypto';
import { openConversation, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/test-app';

let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let app: TestApp;
let ada: Member;
let bob: Member;

beforeAll(async () => {
  const redis = new URL(TEST_REDIS_URL);
  proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
  app = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_COMMAND_TIMEOUT: '300ms', RATE_LIMITS: 'on', PERSISTED_QUERIES: 'apq' });
  [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
});
afterAll(async () => {
  proxy.resume();
  await app.stop();
  await proxy.close();
});

const readyz = () => fetch(app.url.replace(/\/graphql$/, '/readyz')).then(async (r) => ({ status: r.status, body: await r.json() }));

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const startedAt = Date.now();
  const result = await work();
  return { result, ms: Date.now() - startedAt };
}

describe('a Redis that stops answering', () => {
  it('degrades requests instead of holding them, and stays ready, saying degraded, until it answers again', async () => {
    const id = await openConversation(app, [ada, bob]);
    proxy.stall();
    try {
      // Rate limits count in memory meanwhile: the mutation goes through.
      const send = await timed(() => runOperation(app, 'SendMessage', { input: { conversationId: id, body: 'during the stall', clientMessageId: randomUUID() } }, { token: ada.token }));
      expect(errorCodes(send.result)).toEqual([]);
      expect(send.ms).toBeLessThan(3_000);
      // APQ acts as an empty cache: the client sends its document, which runs.
      const query = `query Stalled${randomUUID().replace(/-/g, '')} { __typename }`;
      const persistedQuery = { version: 1, sha256Hash: createHash('sha256').update(query).digest('hex') };
      const miss = await timed(() => fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ extensions: { persistedQuery } }) }).then((r) => r.json()));
      expect(errorCodes(miss.result as never)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
      expect(miss.ms).toBeLessThan(3_000);
      const registered = await timed(() => gql(app, query, {}, { headers: {} }));
      expect(registered.result.data).toEqual({ __typename: 'Query' });
      // Presence answers from what this instance knows.
      const me = await timed(() => runOperation(app, 'Me', {}, { token: ada.token }));
      expect(me.result.data!.me.online).toBe(false);
      expect(me.ms).toBeLessThan(3_000);
      // Still in the balancer: it serves, as the calls above show.
      expect(await readyz()).toEqual({ status: 200, body: { status: 'degraded', checks: { database: 'up', redis: 'down' } } });
    } finally {
      proxy.resume();
    }
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'up', redis: 'up' } } });
  }, 30_000);
});
