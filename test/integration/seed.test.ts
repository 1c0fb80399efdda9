import { seed } from '../../scripts/seed';
import { startTestApp, type TestApp } from '../helpers/test-app';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ REDIS_URL: '' });
});
afterAll(() => app.stop());

describe('seed', () => {
  it('writes realistic, consistent data: every change has its event at a gapless seq', async () => {
    const { conversationIds } = await seed(app.services.dataSource, { users: 40, conversations: 12, messages: 3_000, seed: 7 });
    const query = (sql: string) => app.services.dataSource.query(sql);
    expect(conversationIds).toHaveLength(12);
    expect(await query(`SELECT count(*)::int AS n FROM messages`)).toEqual([{ n: 3000 }]);
    // seq runs 1..last_seq without a hole in every conversation
    expect(
      await query(`SELECT c.id FROM conversations c JOIN conversation_events e ON e.conversation_id = c.id
                   GROUP BY c.id, c.last_seq HAVING count(*) <> c.last_seq OR max(e.seq) <> c.last_seq`),
    ).toEqual([]);
    // every message and reaction has its event
    expect(
      await query(`SELECT m.id FROM messages m LEFT JOIN conversation_events e
                   ON e.conversation_id = m.conversation_id AND e.seq = m.seq AND e.type = 'MessageAdded' WHERE e.seq IS NULL`),
    ).toEqual([]);
    const [{ reactions, events }] = await query(
      `SELECT (SELECT count(*)::int FROM reactions) AS reactions, (SELECT count(*)::int FROM conversation_events WHERE type = 'ReactionChanged') AS events`,
    );
    expect(reactions).toBeGreaterThan(0);
    expect(events).toBe(reactions);
    // activity is skewed: the busiest conversation has many times the messages of the quietest
    const [{ busiest, quietest }] = await query(`SELECT max(n) AS busiest, min(n) AS quietest FROM (SELECT count(*) AS n FROM messages GROUP BY conversation_id) x`);
    expect(Number(busiest)).toBeGreaterThan(3 * Number(quietest));
    // members: every conversation has an OWNER and 2+ members; last_message_at is set
    expect(await query(`SELECT id FROM conversations WHERE last_message_at IS NULL OR (SELECT count(*) FROM memberships WHERE conversation_id = id) < 2`)).toEqual([]);
    // Unread counters, counted once after the load (its trigger is off during the COPY), as a full recount says.
    expect(
      await query(
        `SELECT ms.user_id FROM memberships ms WHERE ms.unread_messages <> (SELECT count(*) FROM messages m WHERE m.conversation_id = ms.conversation_id
           AND m.seq > ms.last_read_seq AND m.author_id <> ms.user_id AND m.deleted_at IS NULL)`,
      ),
    ).toEqual([]);
    expect(await query(`SELECT count(*)::int AS n FROM memberships WHERE unread_messages > 0`)).not.toEqual([{ n: 0 }]);
  });
});
