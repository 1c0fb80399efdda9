import type { QueryRunner } from 'typeorm';
import WebSocket from 'ws';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, gql } from '../helpers/gql';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { TEST_DATABASE_URL, startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs } from '../helpers/ws-client';

const running: TestApp[] = [];
async function start(env: Record<string, string> = {}): Promise<TestApp> {
  const app = await startTestApp(env);
  running.push(app);
  return app;
}
afterAll(() => Promise.all(running.map((app) => app.stop())));

function readyz(app: TestApp) {
  return fetch(app.url.replace('/graphql', '/readyz')).then(async (r) => ({ status: r.status, body: await r.json() }));
}

describe('health', () => {
  it('reports liveness without touching dependencies, and readiness of PostgreSQL and Redis', async () => {
    const app = await start();
    const health = await fetch(app.url.replace('/graphql', '/healthz'));
    expect(health.status).toBe(200);
    expect(await readyz(app)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'up', redis: 'up' } } });
  });

  it('turns /readyz to 503 while PostgreSQL is unreachable, and back once it returns', async () => {
    const target = new URL(TEST_DATABASE_URL);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(TEST_DATABASE_URL);
    viaProxy.port = String(proxy.port);
    const app = await start({ DATABASE_URL: viaProxy.toString() });
    try {
      expect((await readyz(app)).status).toBe(200);
      await proxy.block();
      const down = await readyz(app);
      expect(down).toEqual({ status: 503, body: { status: 'unavailable', checks: { database: 'down', redis: 'up' } } });
      await proxy.unblock();
      await expectEventually(async () => expect((await readyz(app)).status).toBe(200), { timeoutMs: 10_000 });
    } finally {
      await app.stop();
      await proxy.close();
    }
  });

  it('stays ready, database up, while every pooled connection is busy: overload is shed, not a reason to leave the balancer', async () => {
    const app = await start({ DATABASE_POOL_MAX: '2', DATABASE_POOL_QUEUE_TIMEOUT: '1ms' });
    const someone = await createUser(app);
    // Both of the pool's connections held, as a burst of slow transactions would: one at a time, each
    // tried again (with a fresh runner: a runner keeps its failed connect) if a background read holds one for the moment.
    const holders: QueryRunner[] = [];
    const hold = async () => {
      const runner = app.services.dataSource.createQueryRunner();
      await runner.connect();
      holders.push(runner);
    };
    try {
      for (let i = 0; i < 2; i++) await expectEventually(hold);
      // The pool is full: a request that needs a connection is refused at once, as overload is.
      expect(errorCodes(await gql(app, '{ me { id handle } }', {}, { token: someone.token }))).toEqual(['SERVICE_UNAVAILABLE']);
      expect(await readyz(app)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'up', redis: 'up' } } });
      const scrape = await (await fetch(app.url.replace('/graphql', '/metrics'))).text();
      expect(scrape).toMatch(/^parley_dependency_up\{dependency="database"\} 1$/m);
    } finally {
      await Promise.all(holders.map((runner) => runner.release()));
    }
  });
});

describe('errors in production', () => {
  it('masks an internal error (no SQL, no stack) and logs it with the request id', async () => {
    const app = await start({ NODE_ENV: 'production', PERSISTED_QUERIES: 'apq' });
    await app.services.dataSource.query('ALTER TABLE users RENAME TO users_moved');
    try {
      const signIn = `mutation { signIn(input: { login: "someone", password: "some password" }) { token } }`;
      const response = await gql(app, signIn, {}, { headers: { 'x-request-id': 'req-mask-test-1' } });
      expect(response.errors).toEqual([
        { message: 'Internal server error', locations: [{ line: 1, column: 12 }], path: ['signIn'], extensions: { code: 'INTERNAL_SERVER_ERROR' } },
      ]);
      expect(JSON.stringify(response)).not.toMatch(/users|relation|select|stack/i);
      expect(response.headers.get('x-request-id')).toBe('req-mask-test-1');
      const logged = app.logs.find((line) => line.msg === 'internal error');
      expect(logged).toMatchObject({ requestId: 'req-mask-test-1', err: expect.objectContaining({ message: expect.stringContaining('users') }) });
    } finally {
      await app.services.dataSource.query('ALTER TABLE users_moved RENAME TO users');
    }
  });

  it('keeps client errors readable but drops their stack traces', async () => {
    const app = await start({ NODE_ENV: 'production', PERSISTED_QUERIES: 'apq' });
    const response = await gql(app, `mutation { signIn(input: { login: "nobody", password: "wrong-password" }) { token } }`);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    expect(response.errors![0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });

  it('offers Apollo Sandbox in development only', async () => {
    const development = await start({ NODE_ENV: 'development', LOG_PRETTY: 'false', LOG_LEVEL: 'silent' });
    const production = await start({ NODE_ENV: 'production', PERSISTED_QUERIES: 'apq' });
    const page = (app: TestApp) => fetch(app.url, { headers: { accept: 'text/html' } });
    const dev = await page(development);
    expect(dev.status).toBe(200);
    expect(await dev.text()).toMatch(/sandbox/i);
    const prod = await page(production);
    expect(await prod.text()).not.toMatch(/sandbox/i);
    const introspection = await gql(production, `{ __schema { types { name } } }`);
    expect(errorCodes(introspection)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });
});

describe('modes', () => {
  it('runs without Redis in single-instance mode', async () => {
    const app = await start({ REDIS_URL: '' });
    const { token, user } = await createUser(app);
    expect((await gql(app, `{ me { handle } }`, {}, { token })).data).toEqual({ me: { handle: user.handle } });
    expect((await readyz(app)).body).toEqual({ status: 'ready', checks: { database: 'up' } });
  });

  it('shares presence across instances through Redis', async () => {
    const first = await start();
    const second = await start({ DATABASE_SCHEMA: first.config.database.schema, REDIS_KEY_PREFIX: first.config.redis.keyPrefix, MIGRATIONS_RUN: 'false' });
    const { token, user } = await createUser(first);
    const online = async () => (await gql<{ me: { online: boolean; lastSeenAt: string | null } }>(second, `{ me { online lastSeenAt } }`, {}, { token })).data!.me;
    expect(await online()).toEqual({ online: false, lastSeenAt: null });
    const ws = connectWs(first.wsUrl, { token });
    await ws.connected;
    expect((await online()).online).toBe(true);
    await ws.dispose();
    await expectEventually(async () => expect(await online()).toEqual({ online: false, lastSeenAt: expect.any(String) }));
    expect(user.id).toBeDefined();
  });
});

describe('presence bookkeeping', () => {
  it('never leaves a user online whose socket closed during connection_init', async () => {
    const app = await start();
    const { token, user } = await createUser(app);
    for (let i = 0; i < 10; i++) {
      const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      socket.terminate();
    }
    await expectEventually(async () => expect([...(await app.services.presence.online([user.id]))]).toEqual([]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([...(await app.services.presence.online([user.id]))]).toEqual([]);
  });

  it('finishes the close handlers of open sockets before the database closes at shutdown', async () => {
    const app = await startTestApp();
    const { token } = await createUser(app);
    const ws = connectWs(app.wsUrl, { token });
    try {
      await ws.connected;
      await app.stop();
      expect(app.logs.filter((line) => line.msg === 'could not record presence on disconnect')).toEqual([]);
    } finally {
      await ws.dispose();
      await app.stop();
    }
  });
});

describe('graceful shutdown', () => {
  it('closes open WebSockets with 1001', async () => {
    const app = await startTestApp();
    const socket = new WebSocket(app.wsUrl, 'graphql-transport-ws');
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await expectEventually(() => expect(messages).toContain(JSON.stringify({ type: 'connection_ack' })));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await app.stop();
    expect(await closed).toBe(1001);
  });
});
