import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { migrations } from '../../src/migrations';
import { signInbound } from '../../src/webhooks/inbound';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { PGBOUNCER, startPgBouncer, type PgBouncer } from '../helpers/pgbouncer';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

/**
 * Parley through Debian's PgBouncer in transaction mode (a server connection per transaction, no
 * session state), with PostgreSQL behind a proxy this file can cut: two instances start together
 * and migrate once, then accounts, sessions, chat, live events across instances, unread totals and
 * jobs all work through it, and an unreachable PostgreSQL behind it is SERVICE_UNAVAILABLE, then
 * recovered from. Skipped without pgbouncer unless REQUIRE_PGBOUNCER=1 (as in .ci/run).
 */
const available = existsSync(PGBOUNCER);
if (!available && process.env.REQUIRE_PGBOUNCER === '1') throw new Error(`REQUIRE_PGBOUNCER=1 but there is no pgbouncer at ${PGBOUNCER} (apt-get install -y pgbouncer)`);
const describeWithPgBouncer = available ? describe : describe.skip;

const SECRET = 'pgbouncer-inbound-secret';
const schema = `pgb_${randomBytes(5).toString('hex')}`;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let bouncer: PgBouncer;
const apps: TestApp[] = [];
const sockets: TestWsClient[] = [];

async function direct<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Signs up through the API, as a client does. */
async function signUp(app: TestApp): Promise<Member & { refreshToken: string }> {
  const handle = `p${randomBytes(5).toString('hex')}`;
  const response = await runOperation(app, 'SignUp', { input: { handle, displayName: handle, email: `${handle}@example.com`, password: 'correct horse battery staple' } });
  expect(response.errors).toBeUndefined();
  const { token, refreshToken, user } = response.data!.signUp;
  return { token, refreshToken, user: { ...user, id: Buffer.from(user.id, 'base64url').toString().split(':')[1] } };
}

describeWithPgBouncer('through PgBouncer in transaction mode', () => {
  beforeAll(async () => {
    const target = new URL(TEST_DATABASE_URL);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    bouncer = await startPgBouncer({
      host: '127.0.0.1',
      port: proxy.port,
      dbname: target.pathname.slice(1),
      user: decodeURIComponent(target.username),
      databases: { parley: { searchPath: schema }, unset: {} },
    });
    const env = { DATABASE_URL: bouncer.url('parley'), DATABASE_PGBOUNCER: 'on', DATABASE_SCHEMA: schema, INBOUND_WEBHOOK_SECRET: SECRET };
    // Two instances at once on an empty schema: the migration lock must hold through PgBouncer.
    apps.push(...(await Promise.all([startTestApp(env), startTestApp(env)])));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.dispose()));
    for (const app of apps) await app.stop();
    await bouncer?.stop();
    await proxy?.close();
    await direct((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`));
  }, 60_000);

  it('starts two instances together, which apply each migration once, in the schema its entry sets', async () => {
    const applied = await direct((client) => client.query(`SELECT name FROM "${schema}".typeorm_migrations`));
    expect(applied.rows.map((r) => r.name).sort()).toEqual(migrations.map((m) => m.name).sort());
    // Nothing landed in public.
    const strays = await direct((client) => client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = 'typeorm_migrations'`));
    expect(strays.rows[0].n).toBe(0);
  });

  it('serves accounts, sessions, chat with mentions and replies, unread totals and live events across instances', async () => {
    const [a, b] = apps;
    const [ada, bob] = [await signUp(a), await signUp(b)];
    const id = await openConversation(a, [ada, bob]);

    // Bob listens on instance B from the start of the log; Ada writes on both, many at once, so
    // statements spread over every server connection.
    const socket = connectWs(b.wsUrl, { token: bob.token });
    sockets.push(socket);
    const events = socket.subscribe(operation('ConversationEvents'), { conversationId: id, afterSeq: 0 });
    const first = await sendMessage(a, ada, id, `hello @${bob.user.handle}`);
    const sent = await Promise.all(
      Array.from({ length: 40 }, (_, i) => runOperation(apps[i % 2], 'SendMessage', { input: { conversationId: id, body: `m${i}`, clientMessageId: randomUUID(), replyToId: first.id } }, { token: ada.token })),
    );
    expect(sent.flatMap((r) => errorCodes(r))).toEqual([]);
    const expected = [first.seq, ...sent.map((r) => r.data!.sendMessage.seq as number)].sort((x, y) => x - y);
    const received: number[] = [];
    while (received.length < expected.length) {
      const { data, errors } = await events.next(20_000);
      expect(errors).toBeUndefined();
      const event = (data as { conversationEvents: { __typename: string; message?: { seq: number } } }).conversationEvents;
      if (event.__typename === 'MessageAdded') received.push(event.message!.seq);
    }
    expect(received).toEqual(expected);

    const me = await runOperation(b, 'Me', {}, { token: bob.token });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me.unreadTotal).toEqual({ conversations: 1, messages: 41, mentions: 1 });

    const page = await runOperation(b, 'ConversationMessages', { id, last: 50 }, { token: bob.token });
    expect(page.errors).toBeUndefined();
    const nodes = page.data!.conversation.messages.edges.map((e: any) => e.node);
    expect(nodes.filter((m: any) => m.replyTo?.id === first.id)).toHaveLength(40);
    expect(nodes.find((m: any) => m.id === first.id).mentions.map((u: any) => u.handle)).toEqual([bob.user.handle]);

    // Sessions: rotate, detect reuse, sign out.
    const refreshed = await runOperation(a, 'RefreshSession', { refreshToken: ada.refreshToken });
    expect(refreshed.errors).toBeUndefined();
    expect(errorCodes(await runOperation(b, 'RefreshSession', { refreshToken: ada.refreshToken }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await runOperation(a, 'Me', {}, { token: refreshed.data!.refreshSession.token }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await runOperation(a, 'SignOut', {}, { token: bob.token }))).toEqual([]);
    await expectEventually(async () => expect(errorCodes(await runOperation(b, 'Me', {}, { token: bob.token }))).toEqual(['UNAUTHENTICATED']));
  });

  it('runs jobs through it: an inbound webhook, queued by pg-boss, becomes a message', async () => {
    const [a] = apps;
    const [agent, customer] = [await signUp(a), await signUp(a)];
    const support = await openConversation(a, [agent, customer], 'SUPPORT');
    const body = JSON.stringify({ externalEventId: `sms-${randomUUID()}`, conversationId: support, authorHandle: customer.user.handle, body: 'via PgBouncer', sentAt: new Date().toISOString() });
    const response = await fetch(a.url.replace(/\/graphql$/, '/webhooks/inbound'), { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, body) }, body });
    expect(response.status).toBe(202);
    await expectEventually(async () => {
      const page = await runOperation(a, 'ConversationMessages', { id: support, last: 5 }, { token: agent.token });
      expect(page.data!.conversation.messages.edges.map((e: any) => e.node.body)).toContain('via PgBouncer');
    }, { timeoutMs: 20_000 });
  });

  it('answers SERVICE_UNAVAILABLE while PostgreSQL is unreachable behind it, and recovers on its own', async () => {
    const [a] = apps;
    const ada = await signUp(a);
    await proxy.block();
    try {
      expect(errorCodes(await runOperation(a, 'Me', {}, { token: ada.token }))).toEqual(['SERVICE_UNAVAILABLE']);
      const ready = await fetch(a.url.replace(/\/graphql$/, '/readyz'));
      expect(ready.status).toBe(503);
    } finally {
      await proxy.unblock();
    }
    await expectEventually(async () => expect(errorCodes(await runOperation(a, 'Me', {}, { token: ada.token }))).toEqual([]), { timeoutMs: 20_000 });
  });

  it('refuses to start when its entry does not put DATABASE_SCHEMA on the search_path, before writing anything', async () => {
    const other = `pgb_${randomBytes(5).toString('hex')}`;
    await expect(startTestApp({ DATABASE_URL: bouncer.url('unset'), DATABASE_PGBOUNCER: 'on', DATABASE_SCHEMA: other })).rejects.toThrow(
      /search_path .* not DATABASE_SCHEMA "pgb_\w+" first.*connect_query='SET search_path TO pgb_\w+'/,
    );
    const created = await direct((client) => client.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1`, [other]));
    expect(created.rows[0].n).toBe(0);
  });
});
