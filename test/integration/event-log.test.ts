import { appendEvent } from '../../src/events/event-log';
import { createConversation } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { startTestApp, type TestApp } from '../helpers/test-app';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ REDIS_URL: '' });
});
afterAll(() => app.stop());

async function seqs(conversationId: string): Promise<number[]> {
  const rows: { seq: number }[] = await app.services.dataSource.query(`SELECT seq FROM conversation_events WHERE conversation_id = $1 ORDER BY seq`, [conversationId]);
  return rows.map((r) => r.seq);
}

describe('event log', () => {
  it('hands out gapless seqs to 20 concurrent writers', async () => {
    const { user } = await createUser(app);
    const conversationId = await createConversation(app, [user.id]);
    const events = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.services.dataSource.transaction((manager) => appendEvent(manager, conversationId, 'MemberJoined', { userId: `${i}` })),
      ),
    );
    expect(events.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(await seqs(conversationId)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  });

  it('leaves no event and no seq hole when the change fails', async () => {
    const { user } = await createUser(app);
    const conversationId = await createConversation(app, [user.id]);
    await expect(
      app.services.dataSource.transaction(async (manager) => {
        await appendEvent(manager, conversationId, 'MemberLeft', { userId: user.id });
        throw new Error('the change itself failed');
      }),
    ).rejects.toThrow('the change itself failed');
    const next = await app.services.dataSource.transaction((manager) => appendEvent(manager, conversationId, 'MemberLeft', { userId: user.id }));
    expect(next.seq).toBe(2);
    expect(await seqs(conversationId)).toEqual([1, 2]);
  });
});
