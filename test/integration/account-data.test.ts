import { accountExportJob } from '../../src/jobs/account-export.job';
import { retentionJob } from '../../src/jobs/retention.job';
import { fromGlobalId } from '../../src/pagination/global-id';
import { globalUserId, openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createMessages } from '../factories/conversation.factory';
import { createUser, DEFAULT_PASSWORD } from '../factories/user.factory';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { expectEventually } from '../helpers/expect-eventually';
import { operation } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs } from '../helpers/ws-client';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.stop());

const deps = () => ({ dataSource: app.services.dataSource, sql: app.services.sql, bus: app.services.bus, logger: app.services.logger, config: app.config });
const at = (iso: string) => () => new Date(iso);
const raw = (globalId: string) => fromGlobalId(globalId).id;

describe('retention', () => {
  it('erases bodies of messages deleted longer ago than RETENTION_DELETED_DAYS, old metric samples and ended sessions, in batches', async () => {
    const [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
    const id = await openConversation(app, [ada, bob]);
    const [old, recent, kept] = [await sendMessage(app, ada, id, 'old secret'), await sendMessage(app, ada, id, 'recent secret'), await sendMessage(app, ada, id, 'kept')];
    const { dataSource } = app.services;
    await dataSource.query(`UPDATE messages SET deleted_at = $2 WHERE id = $1`, [raw(old.id), new Date('2026-01-01T00:00:00Z')]);
    await dataSource.query(`UPDATE messages SET deleted_at = $2 WHERE id = $1`, [raw(recent.id), new Date('2026-01-25T00:00:00Z')]);
    await dataSource.query(`INSERT INTO metric_samples (at) SELECT generate_series($1::timestamptz, $2::timestamptz, interval '1 minute')`, [
      new Date('2025-09-01T00:00:00Z'),
      new Date('2025-09-01T20:00:00Z'), // 1,201 rows: more than one batch
    ]);
    await dataSource.query(`INSERT INTO metric_samples (at) VALUES ($1)`, [new Date('2026-01-20T00:00:00Z')]);
    // 1,500 more deleted long ago: the bodies too take more than one batch.
    const many = await createMessages(app, raw(id), [ada.user.id], 1_500, 'bulk secret');
    await dataSource.query(`UPDATE messages SET deleted_at = $2 WHERE id = ANY($1::uuid[])`, [many, new Date('2025-12-20T00:00:00Z')]);

    const sessions = await dataSource.query(
      `INSERT INTO sessions (user_id, expires_at, revoked_at) VALUES ($1, '2026-01-20', NULL), ($1, '2026-03-01', '2026-01-20'), ($1, '2026-03-01', '2026-01-31T12:00:00Z'), ($1, '2026-03-01', NULL) RETURNING id`,
      [ada.user.id],
    );
    await dataSource.query(`INSERT INTO refresh_tokens (hash, session_id) SELECT decode(md5(id::text), 'hex'), id FROM sessions WHERE id = ANY($1::uuid[])`, [sessions.map((row: { id: string }) => row.id)]);

    for (let run = 0; run < 2; run++) await retentionJob.run(deps(), {}, { now: at('2026-02-01T00:00:00Z'), lastAttempt: false });

    // Expired, and revoked over a day ago: gone with their refresh tokens; revoked within the day, and live: kept.
    const left = await dataSource.query(`SELECT s.id, count(r.hash)::int AS tokens FROM sessions s LEFT JOIN refresh_tokens r ON r.session_id = s.id WHERE s.id = ANY($1::uuid[]) GROUP BY s.id`, [sessions.map((row: { id: string }) => row.id)]);
    expect(left.map((row: { id: string }) => row.id).sort()).toEqual([sessions[2].id, sessions[3].id].sort());
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = ANY($1::uuid[])`, [[sessions[0].id, sessions[1].id]])).toEqual([{ n: 0 }]);

    const bodies = await dataSource.query(`SELECT id, body FROM messages WHERE id = ANY($1::uuid[]) ORDER BY seq`, [[old, recent, kept].map((m) => raw(m.id))]);
    expect(bodies.map((m: { body: string | null }) => m.body)).toEqual([null, 'recent secret', 'kept']);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM metric_samples`)).toEqual([{ n: 1 }]);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[]) AND body IS NOT NULL`, [many])).toEqual([{ n: 0 }]);
  });
});

describe('the job queue', () => {
  it('enqueues inside the transaction of the change: a rolled-back change leaves no job', async () => {
    const { user } = await createUser(app);
    const jobs = () => app.services.dataSource.query(`SELECT count(*)::int AS n FROM "${app.config.jobs.schema}".job WHERE name = 'account-export'`);
    const before = await jobs();
    await expect(
      app.services.dataSource.transaction(async (manager) => {
        const [{ id }] = await manager.query(`INSERT INTO account_exports (user_id) VALUES ($1) RETURNING id`, [user.id]);
        expect(await app.services.jobs.send(accountExportJob, { exportId: id }, { manager })).toEqual(expect.any(String));
        throw new Error('the change failed after enqueueing');
      }),
    ).rejects.toThrow('the change failed after enqueueing');
    expect(await jobs()).toEqual(before);
  });
});

describe('account export', () => {
  it('writes profile, memberships and messages as JSON that accountExport returns when ready', async () => {
    const [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
    const id = await openConversation(app, [ada, bob]);
    await sendMessage(app, ada, id, 'mine');
    const gone = await sendMessage(app, ada, id, 'deleted later');
    await runOperation(app, 'DeleteMessage', { id: gone.id }, { token: ada.token });
    await sendMessage(app, bob, id, 'not mine');

    const query = `query ($id: ID!) { accountExport(id: $id) { id status completedAt document } }`;
    const requested = await gql<any>(app, `mutation { requestAccountExport { id status } }`, {}, { token: ada.token });
    expect(requested.data.requestAccountExport.status).toBe('PENDING');
    const exportId = requested.data.requestAccountExport.id;
    const ready = await expectEventually(async () => {
      const response = await gql<any>(app, query, { id: exportId }, { token: ada.token });
      expect(response.data.accountExport.status).toBe('READY');
      return response.data.accountExport;
    }, { timeoutMs: 10_000 });
    expect(ready.document).toMatchObject({
      format: 'parley-account-export',
      profile: { id: ada.user.id, handle: ada.user.handle, email: ada.user.email },
      memberships: [{ conversationId: raw(id), role: 'OWNER' }],
      messages: [
        { body: 'mine', seq: 3 },
        { body: null, seq: 4, deletedAt: expect.any(String) },
      ],
    });
    // Only its owner sees it.
    expect((await gql<any>(app, query, { id: exportId }, { token: bob.token })).data.accountExport).toBeNull();
  });

  it('is idempotent when run directly with an injected clock, and marks the export FAILED after the last attempt', async () => {
    const { user } = await createUser(app);
    const [{ id }] = await app.services.dataSource.query(`INSERT INTO account_exports (user_id) VALUES ($1) RETURNING id`, [user.id]);
    await accountExportJob.run(deps(), { exportId: id }, { now: at('2026-03-01T12:00:00Z'), lastAttempt: false });
    await accountExportJob.run(deps(), { exportId: id }, { now: at('2026-03-02T12:00:00Z'), lastAttempt: false });
    const [row] = await app.services.dataSource.query(`SELECT status, completed_at AS "completedAt", document->>'exportedAt' AS "exportedAt" FROM account_exports WHERE id = $1`, [id]);
    expect(row).toEqual({ status: 'READY', completedAt: new Date('2026-03-01T12:00:00Z'), exportedAt: '2026-03-01T12:00:00.000Z' });

    const [{ id: failing }] = await app.services.dataSource.query(`INSERT INTO account_exports (user_id) VALUES ($1) RETURNING id`, [user.id]);
    const broken = { ...deps(), dataSource: Object.create(app.services.dataSource, { query: { value: brokenQuery(app.services.dataSource.query.bind(app.services.dataSource)) } }) };
    await expect(accountExportJob.run(broken, { exportId: failing }, { now: at('2026-03-03T00:00:00Z'), lastAttempt: true })).rejects.toThrow('messages are unavailable');
    expect(await app.services.dataSource.query(`SELECT status FROM account_exports WHERE id = $1`, [failing])).toEqual([{ status: 'FAILED' }]);
  });
});

/** A query function that fails on the messages table, as an outage of it would. */
function brokenQuery(query: (sql: string, parameters?: unknown[]) => Promise<unknown>) {
  return (sql: string, parameters?: unknown[]) => (/FROM messages/.test(sql) ? Promise.reject(new Error('messages are unavailable')) : query(sql, parameters));
}

describe('deleteAccount', () => {
  it('anonymises the user, keeps their messages, ends their memberships, sockets and tokens', async () => {
    const [ada, bob]: Member[] = await Promise.all([createUser(app), createUser(app)]);
    const group = await openConversation(app, [bob, ada]);
    const direct = await openConversation(app, [ada, bob], 'DIRECT');
    const written = await sendMessage(app, ada, group, 'remember me');
    const socket = connectWs(app.wsUrl, { token: ada.token });
    const following = socket.subscribe(operation('ConversationEvents'), { conversationId: group, afterSeq: 3 });
    await socket.connected;

    expect(errorCodes(await gql<any>(app, `mutation { deleteAccount(password: "wrong password!") }`, {}, { token: ada.token }))).toEqual(['UNAUTHENTICATED']);
    const deleted = await gql<any>(app, `mutation ($p: String!) { deleteAccount(password: $p) }`, { p: DEFAULT_PASSWORD }, { token: ada.token });
    expect(deleted.data).toEqual({ deleteAccount: true });

    expect((await socket.closed).code).toBe(4403);
    const me = await runOperation(app, 'Me', {}, { token: ada.token });
    expect({ status: me.status, codes: errorCodes(me) }).toEqual({ status: 401, codes: ['UNAUTHENTICATED'] });
    const signIn = await runOperation(app, 'SignIn', { input: { login: ada.user.email, password: DEFAULT_PASSWORD } });
    expect(errorCodes(signIn)).toEqual(['UNAUTHENTICATED']);

    const page = await runOperation(app, 'ConversationMessages', { id: group }, { token: bob.token });
    expect(page.data!.conversation.messages.edges.map((e: any) => [e.node.id, e.node.body, e.node.author.displayName, e.node.author.handle])).toEqual([
      [written.id, 'remember me', 'Deleted user', expect.stringMatching(/^deleted_[0-9a-f]{24}$/)],
    ]);
    for (const id of [group, direct]) {
      const members = await runOperation(app, 'ConversationMembers', { id }, { token: bob.token });
      expect(members.data!.conversation.members.edges.map((e: any) => e.node.id)).toEqual([globalUserId(bob)]);
    }
    const found = await runOperation(app, 'FindUsers', { search: ada.user.handle }, { token: bob.token });
    expect(found.data!.users.edges).toEqual([]);
    expect((await following.finished().catch((error: unknown) => ({ error }))).error).toBeDefined();
  });
});
