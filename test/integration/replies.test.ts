import { randomUUID } from 'node:crypto';
import { toGlobalId } from '../../src/pagination/global-id';
import { globalUserId, openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, runOperation } from '../helpers/gql';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';
import { operation } from '../helpers/operations';

/** Replies (issue 18, point 4): `SendMessageInput.replyToId` and `Message.replyTo`. */
let app: TestApp;
let ada: Member;
let bob: Member;
let conversationId: string;
const clients: TestWsClient[] = [];

beforeAll(async () => {
  app = await startTestApp();
  [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
  conversationId = await openConversation(app, [ada, bob]);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await app.stop();
});

const reply = (author: Member, id: string, body: string, replyToId: string | null) =>
  runOperation(app, 'SendMessage', { input: { conversationId: id, body, clientMessageId: `${body}-${Date.now()}-${Math.random()}`, replyToId } }, { token: author.token });

async function lastSeq(id: string): Promise<number> {
  const response = await runOperation(app, 'ConversationMessages', { id, last: 1 }, { token: ada.token });
  return response.data!.conversation.lastSeq;
}

describe('replies', () => {
  it('shows the original in the answer, in history pages and in the live MessageAdded, deleted originals as deleted', async () => {
    const client = connectWs(app.wsUrl, { token: bob.token });
    clients.push(client);
    const events = client.subscribe(operation('ConversationEvents'), { conversationId, afterSeq: await lastSeq(conversationId) });
    const original = await sendMessage(app, ada, conversationId, 'Where shall we meet?');
    await events.next();

    const answered = await reply(bob, conversationId, 'At the library', original.id);
    expect(answered.errors).toBeUndefined();
    expect(answered.data!.sendMessage.replyTo).toEqual({ id: original.id, body: 'Where shall we meet?', deletedAt: null, author: { id: expect.any(String), handle: ada.user.handle } });
    const live = (await events.next()) as { data: { conversationEvents: { message: { body: string; replyTo: unknown } } } };
    expect(live.data.conversationEvents.message).toMatchObject({ body: 'At the library', replyTo: { id: original.id, body: 'Where shall we meet?' } });

    await runOperation(app, 'DeleteMessage', { id: original.id }, { token: ada.token });
    const page = await runOperation(app, 'ConversationMessages', { id: conversationId, last: 2 }, { token: ada.token });
    const [first, second] = page.data!.conversation.messages.edges.map((edge: { node: unknown }) => edge.node);
    expect(first).toMatchObject({ id: original.id, body: null, replyTo: null });
    expect(second.replyTo).toMatchObject({ id: original.id, body: null, deletedAt: expect.any(String) });
  });

  it('refuses a reply to a message of another conversation, or to none, with BAD_USER_INPUT, and writes nothing', async () => {
    const elsewhere = await openConversation(app, [ada, bob]);
    const foreign = await sendMessage(app, ada, elsewhere, 'in another conversation');
    const before = await lastSeq(conversationId);
    const refused = await reply(bob, conversationId, 'wrong place', foreign.id);
    expect(errorCodes(refused)).toEqual(['BAD_USER_INPUT']);
    expect(refused.errors![0].message).toBe('replyToId must name a message of this conversation.');
    expect(errorCodes(await reply(bob, conversationId, 'not a message', conversationId))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await reply(bob, conversationId, 'not a message', toGlobalId('Message', randomUUID())))).toEqual(['BAD_USER_INPUT']);
    const [{ count }] = await app.services.dataSource.query(`SELECT count(*)::int AS count FROM messages WHERE body IN ('wrong place', 'not a message')`);
    expect(count).toBe(0);
    expect(await lastSeq(conversationId)).toBe(before);
  });

  it('answers a retry only as it was sent, and only to a member', async () => {
    const carol = await createUser(app);
    const id = await openConversation(app, [ada, bob, carol]);
    const original = await sendMessage(app, ada, id, 'secret plan');
    const input = { conversationId: id, body: 'noted', clientMessageId: `retry-${Date.now()}`, replyToId: original.id };
    expect((await runOperation(app, 'SendMessage', { input }, { token: carol.token })).errors).toBeUndefined();
    // The same key with another original is another message: refused, not answered with the first.
    expect(errorCodes(await runOperation(app, 'SendMessage', { input: { ...input, replyToId: null } }, { token: carol.token }))).toEqual(['CONFLICT']);
    expect(errorCodes(await reply(bob, id, 'empty id', '' as unknown as string))).toEqual(['BAD_USER_INPUT']);
    // Removed, Carol cannot read the conversation through her retry (its replyTo).
    expect((await runOperation(app, 'RemoveMember', { conversationId: id, userId: globalUserId(carol) }, { token: ada.token })).errors).toBeUndefined();
    const retried = await runOperation(app, 'SendMessage', { input }, { token: carol.token });
    expect(errorCodes(retried)).toEqual(['NOT_FOUND']);
    expect(retried.data?.sendMessage ?? null).toBeNull();
  });

  it('loads the originals of a history page with one statement, whatever the number of replies', async () => {
    const id = await openConversation(app, [ada, bob]);
    const originals = [];
    for (let i = 0; i < 5; i++) originals.push(await sendMessage(app, ada, id, `question ${i}`));
    const statements = async () => {
      await runOperation(app, 'ConversationMessages', { id, last: 20 }, { token: bob.token });
      app.queries.length = 0;
      const response = await runOperation(app, 'ConversationMessages', { id, last: 20 }, { token: bob.token });
      expect(response.errors).toBeUndefined();
      return app.queries.filter((sql) => !sql.includes('metric_instance_minutes')).length;
    };
    await reply(bob, id, 'one answer', originals[0].id);
    const withOne = await statements();
    for (let i = 1; i < 5; i++) await reply(bob, id, `answer ${i}`, originals[i].id);
    const withFive = await statements();
    expect(withFive).toBe(withOne);
  });
});
