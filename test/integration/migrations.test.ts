import { Client } from 'pg';
import { startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-app';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ REDIS_URL: '' });
});
afterAll(() => app.stop());

describe('migrations', () => {
  it('leave the database exactly as the entities describe it (migration:generate would find nothing)', async () => {
    const pending = await app.services.dataSource.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('create every named index of the architecture', async () => {
    const rows: { indexname: string }[] = await app.services.dataSource.query(
      'SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname',
    );
    expect(rows.map((r) => r.indexname)).toEqual(
      expect.arrayContaining([
        'users_handle_lower_key',
        'users_email_lower_key',
        'conversations_inbox_order_idx',
        'memberships_user_id_idx',
        'memberships_join_order_idx',
        'messages_conversation_seq_key',
        'messages_author_client_message_id_key',
        'messages_body_fts_idx',
        'conversation_events_pkey',
      ]),
    );
  });

  it('can be reverted and applied again', async () => {
    const { dataSource } = app.services;
    for (let i = 0; i < dataSource.migrations.length; i++) await dataSource.undoLastMigration({ transaction: 'all' });
    expect(await dataSource.query(`SELECT to_regclass('users') AS users`)).toEqual([{ users: null }]);
    await dataSource.runMigrations({ transaction: 'each' });
    expect(await dataSource.query(`SELECT to_regclass('users')::text AS users`)).toEqual([{ users: 'users' }]);
  });
});

describe('migrations in a cluster', () => {
  it('let instances that start together on an empty schema all come up (one migrates, the others wait)', async () => {
    const schema = `test_cluster_${Date.now()}`;
    const apps = await Promise.all([1, 2, 3].map(() => startTestApp({ REDIS_URL: '', DATABASE_SCHEMA: schema })));
    try {
      const [{ count }] = await apps[0].services.dataSource.query('SELECT count(*)::int AS count FROM typeorm_migrations');
      expect(count).toBe(apps[0].services.dataSource.migrations.length);
    } finally {
      await Promise.all(apps.map((a) => a.stop()));
      const admin = new Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
      await admin.end();
    }
  });
});
