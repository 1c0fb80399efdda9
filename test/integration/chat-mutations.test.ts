import { randomUUID } from 'node:crypto';
import { fromGlobalId, toGlobalId } from '../../src/pagination/global-id';
import { globalUserId, openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, runOperation } from '../helpers/gql';
import { startTestApp, type TestApp } from '../helpers/test-app';

let app: TestApp;
let ada: Member;
let bob: Member;
let cy: Member;

beforeAll(async () => {
  app = await startTestApp();
  [ada, bob, cy] = await Promise.all([createUser(app), createUser(app), createUser(app)]);
});
afterAll(() => app.stop());

const raw = (globalId: string) => fromGlobalId(globalId).id;

/** What a failed mutation must leave exactly as it was. */
async function state(conversationId: string) {
  const [row] = await app.services.dataSource.query(
    `SELECT c.last_seq AS "lastSeq", c.status, c.last_message_at AS "lastMessageAt",
       (SELECT count(*)::int FROM conversation_events WHERE conversation_id = c.id) AS events,
       (SELECT count(*)::int FROM messages WHERE conversation_id = c.id) AS messages,
       (SELECT count(*)::int FROM memberships WHERE conversation_id = c.id) AS members,
       (SELECT count(*)::int FROM reactions r JOIN messages m ON m.id = r.message_id WHERE m.conversation_id = c.id) AS reactions,
       (SELECT json_agg(body ORDER BY seq) FROM messages WHERE conversation_id = c.id) AS bodies
     FROM conversations c WHERE c.id = $1`,
    [raw(conversationId)],
  );
  return row;
}

async function events(conversationId: string): Promise<{ seq: number; type: string; payload: Record<string, unknown> }[]> {
  return app.services.dataSource.query(`SELECT seq, type, payload FROM conversation_events WHERE conversation_id = $1 ORDER BY seq`, [raw(conversationId)]);
}

async function expectRefused(conversationId: string, attempt: () => Promise<{ errors?: unknown }>, code: string, message?: string) {
  const before = await state(conversationId);
  const response = (await attempt()) as { errors?: { message: string }[] };
  expect(errorCodes(response)).toEqual([code]);
  if (message) expect(response.errors![0].message).toContain(message);
  expect(await state(conversationId)).toEqual(before);
}

describe('createConversation', () => {
  it('makes the creator OWNER and logs every member joining at seq 1..n', async () => {
    const response = await runOperation(
      app,
      'CreateConversation',
      { input: { kind: 'GROUP', title: '  Launch  ', memberIds: [globalUserId(bob), globalUserId(cy), globalUserId(bob)] } },
      { token: ada.token },
    );
    expect(response.errors).toBeUndefined();
    expect(response.data!.createConversation).toMatchObject({ kind: 'GROUP', title: 'Launch', viewerRole: 'OWNER', lastSeq: 3, status: 'OPEN' });
    const id = response.data!.createConversation.id;
    expect((await events(id)).map((e) => [e.seq, e.type, e.payload.userId])).toEqual([
      [1, 'MemberJoined', ada.user.id],
      [2, 'MemberJoined', bob.user.id],
      [3, 'MemberJoined', cy.user.id],
    ]);
    const members = await runOperation(app, 'ConversationMembers', { id }, { token: bob.token });
    expect(members.data!.conversation.members.edges.map((e: any) => [e.node.handle, e.role])).toEqual([
      [ada.user.handle, 'OWNER'],
      [bob.user.handle, 'MEMBER'],
      [cy.user.handle, 'MEMBER'],
    ]);
  });

  it('returns the existing DIRECT conversation of a pair, also when creates race', async () => {
    const [dee, eve] = await Promise.all([createUser(app), createUser(app)]);
    const ids = await Promise.all([
      ...Array.from({ length: 4 }, () => openConversation(app, [dee, eve], 'DIRECT')),
      openConversation(app, [eve, dee], 'DIRECT'),
    ]);
    expect(new Set(ids).size).toBe(1);
    expect((await events(ids[0])).map((e) => e.type)).toEqual(['MemberJoined', 'MemberJoined']);
  });

  it.each([
    ['a DIRECT conversation with two others', 'DIRECT', 2, 'BAD_USER_INPUT'],
    ['a DIRECT conversation with nobody else', 'DIRECT', 0, 'BAD_USER_INPUT'],
  ])('refuses %s and writes nothing', async (_case, kind, others, code) => {
    const before = await app.services.dataSource.query(`SELECT count(*)::int AS n FROM conversations`);
    const memberIds = [bob, cy].slice(0, others).map(globalUserId);
    const response = await runOperation(app, 'CreateConversation', { input: { kind, memberIds } }, { token: ada.token });
    expect(errorCodes(response)).toEqual([code]);
    expect(await app.services.dataSource.query(`SELECT count(*)::int AS n FROM conversations`)).toEqual(before);
  });

  it('refuses an unknown member with NOT_FOUND and a malformed id with BAD_USER_INPUT, writing nothing', async () => {
    const before = await app.services.dataSource.query(`SELECT count(*)::int AS n FROM conversations`);
    const unknown = await runOperation(app, 'CreateConversation', { input: { kind: 'GROUP', memberIds: [toGlobalId('User', randomUUID())] } }, { token: ada.token });
    expect(errorCodes(unknown)).toEqual(['NOT_FOUND']);
    const malformed = await runOperation(app, 'CreateConversation', { input: { kind: 'GROUP', memberIds: ['nope'] } }, { token: ada.token });
    expect(errorCodes(malformed)).toEqual(['BAD_USER_INPUT']);
    const anonymous = await runOperation(app, 'CreateConversation', { input: { kind: 'GROUP', memberIds: [] } });
    expect(errorCodes(anonymous)).toEqual(['UNAUTHENTICATED']);
    expect(await app.services.dataSource.query(`SELECT count(*)::int AS n FROM conversations`)).toEqual(before);
  });
});

describe('membership', () => {
  it('lets only the OWNER add and remove members; adding twice or removing a non-member changes nothing', async () => {
    const id = await openConversation(app, [ada, bob]);
    await expectRefused(id, () => runOperation(app, 'AddMember', { conversationId: id, userId: globalUserId(cy) }, { token: bob.token }), 'FORBIDDEN');
    await expectRefused(id, () => runOperation(app, 'AddMember', { conversationId: id, userId: globalUserId(bob) }, { token: cy.token }), 'NOT_FOUND');
    await expectRefused(id, () => runOperation(app, 'AddMember', { conversationId: id, userId: toGlobalId('User', randomUUID()) }, { token: ada.token }), 'NOT_FOUND');
    for (let i = 0; i < 2; i++) expect(errorCodes(await runOperation(app, 'AddMember', { conversationId: id, userId: globalUserId(cy) }, { token: ada.token }))).toEqual([]);
    await expectRefused(id, () => runOperation(app, 'RemoveMember', { conversationId: id, userId: globalUserId(cy) }, { token: bob.token }), 'FORBIDDEN');
    for (let i = 0; i < 2; i++) expect(errorCodes(await runOperation(app, 'RemoveMember', { conversationId: id, userId: globalUserId(cy) }, { token: ada.token }))).toEqual([]);
    expect((await events(id)).map((e) => `${e.type}:${e.payload.userId === cy.user.id ? 'cy' : '-'}`)).toEqual(['MemberJoined:-', 'MemberJoined:-', 'MemberJoined:cy', 'MemberLeft:cy']);
    const gone = await runOperation(app, 'ConversationMessages', { id }, { token: cy.token });
    expect(gone.data!.conversation).toBeNull();
  });

  it('hands OWNER to the earliest member when the owner leaves', async () => {
    const id = await openConversation(app, [ada, bob, cy]);
    expect((await runOperation(app, 'LeaveConversation', { conversationId: id }, { token: ada.token })).data).toEqual({ leaveConversation: true });
    const members = await runOperation(app, 'ConversationMembers', { id }, { token: cy.token });
    expect(members.data!.conversation.members.edges.map((e: any) => [e.node.handle, e.role])).toEqual([
      [bob.user.handle, 'OWNER'],
      [cy.user.handle, 'MEMBER'],
    ]);
    expect(errorCodes(await runOperation(app, 'LeaveConversation', { conversationId: id }, { token: ada.token }))).toEqual(['NOT_FOUND']);
  });

  it('keeps a DIRECT conversation to its two members', async () => {
    const [dee, eve] = await Promise.all([createUser(app), createUser(app)]);
    const id = await openConversation(app, [dee, eve], 'DIRECT');
    await expectRefused(id, () => runOperation(app, 'AddMember', { conversationId: id, userId: globalUserId(ada) }, { token: dee.token }), 'FORBIDDEN');
    await expectRefused(id, () => runOperation(app, 'LeaveConversation', { conversationId: id }, { token: eve.token }), 'FORBIDDEN');
  });
});

describe('close and reopen', () => {
  it('lets only the OWNER close; a closed conversation refuses messages with FORBIDDEN until reopened', async () => {
    const id = await openConversation(app, [ada, bob]);
    await expectRefused(id, () => runOperation(app, 'CloseConversation', { id }, { token: bob.token }), 'FORBIDDEN');
    expect((await runOperation(app, 'CloseConversation', { id }, { token: ada.token })).data!.closeConversation).toMatchObject({ status: 'CLOSED', lastSeq: 3 });
    expect((await runOperation(app, 'CloseConversation', { id }, { token: ada.token })).data!.closeConversation).toMatchObject({ status: 'CLOSED', lastSeq: 3 });
    const send = () => runOperation(app, 'SendMessage', { input: { conversationId: id, body: 'hello?', clientMessageId: randomUUID() } }, { token: bob.token });
    await expectRefused(id, send, 'FORBIDDEN', 'closed');
    await expectRefused(id, () => runOperation(app, 'SetTyping', { conversationId: id, typing: true }, { token: bob.token }), 'FORBIDDEN');
    expect((await runOperation(app, 'ReopenConversation', { id }, { token: ada.token })).data!.reopenConversation).toMatchObject({ status: 'OPEN', lastSeq: 4 });
    expect(errorCodes(await send())).toEqual([]);
    expect((await events(id)).slice(2).map((e) => [e.type, e.payload.status])).toEqual([
      ['ConversationStatusChanged', 'CLOSED'],
      ['ConversationStatusChanged', 'OPEN'],
      ['MessageAdded', undefined],
    ]);
  });
});

describe('sendMessage', () => {
  it('stores the trimmed body at the next seq and moves the inbox order', async () => {
    const id = await openConversation(app, [ada, bob]);
    const message = await sendMessage(app, bob, id, '  hello there  ');
    expect(message).toMatchObject({ seq: 3, body: 'hello there' });
    const after = await state(id);
    expect(after).toMatchObject({ lastSeq: 3, events: 3, messages: 1 });
    expect(after.lastMessageAt).not.toBeNull();
  });

  it.each([
    ['an empty body', { body: '' }, 'BAD_USER_INPUT', 'body must be 1 to 4000 characters'],
    ['a blank body', { body: ' \n\t ' }, 'BAD_USER_INPUT', 'got 0'],
    ['a body of 4001 characters', { body: 'x'.repeat(4001) }, 'BAD_USER_INPUT', 'got 4001'],
    ['a clientMessageId of 65 characters', { clientMessageId: 'k'.repeat(65) }, 'BAD_USER_INPUT', 'clientMessageId must be 1 to 64 characters'],
    ['an empty clientMessageId', { clientMessageId: '' }, 'BAD_USER_INPUT', 'clientMessageId'],
  ])('refuses %s and writes nothing', async (_case, override, code, message) => {
    const id = await openConversation(app, [ada, bob]);
    const input = { conversationId: id, body: 'fine', clientMessageId: randomUUID(), ...override };
    await expectRefused(id, () => runOperation(app, 'SendMessage', { input }, { token: bob.token }), code, message);
  });

  it('answers a non-member and an unknown conversation alike with NOT_FOUND', async () => {
    const id = await openConversation(app, [ada, bob]);
    const input = { conversationId: id, body: 'let me in', clientMessageId: randomUUID() };
    await expectRefused(id, () => runOperation(app, 'SendMessage', { input }, { token: cy.token }), 'NOT_FOUND');
    const unknown = await runOperation(app, 'SendMessage', { input: { ...input, conversationId: toGlobalId('Conversation', randomUUID()) } }, { token: cy.token });
    expect(errorCodes(unknown)).toEqual(['NOT_FOUND']);
    expect(unknown.errors![0].message.replace(/ \S+ that/, ' X that')).toBe(
      (await runOperation(app, 'SendMessage', { input }, { token: cy.token })).errors![0].message.replace(/ \S+ that/, ' X that'),
    );
  });

  it('returns the first message for a retry with the same clientMessageId, also under 10 concurrent retries', async () => {
    const id = await openConversation(app, [ada, bob]);
    const key = randomUUID();
    const first = await sendMessage(app, bob, id, 'once', key);
    expect((await sendMessage(app, bob, id, 'once', key)).id).toBe(first.id);

    const racing = randomUUID();
    const results = await Promise.all(Array.from({ length: 10 }, () => sendMessage(app, bob, id, 'only once', racing)));
    expect(new Set(results.map((m) => m.id)).size).toBe(1);
    expect(await state(id)).toMatchObject({ messages: 2, events: 4, lastSeq: 4 });
    // The key is the author's: someone else may use the same one.
    expect((await sendMessage(app, ada, id, 'mine', key)).id).not.toBe(first.id);
  });

  it('refuses a clientMessageId the author already used in another conversation with CONFLICT', async () => {
    const [one, two] = await Promise.all([openConversation(app, [ada, bob]), openConversation(app, [ada, bob])]);
    const key = randomUUID();
    await sendMessage(app, bob, one, 'here', key);
    const input = { conversationId: two, body: 'there', clientMessageId: key };
    await expectRefused(two, () => runOperation(app, 'SendMessage', { input }, { token: bob.token }), 'CONFLICT');
  });

  it('hands out gapless seqs to 20 parallel senders', async () => {
    const senders = await Promise.all(Array.from({ length: 4 }, () => createUser(app)));
    const id = await openConversation(app, [ada, ...senders]);
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => sendMessage(app, senders[i % 4], id, `parallel ${i}`)));
    expect(sent.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 6));
    expect((await events(id)).map((e) => e.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });
});

describe('a change that waits for another', () => {
  it('sees a removal committed while it waited for the conversation lock', async () => {
    const id = await openConversation(app, [ada, bob]);
    const runner = app.services.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(`SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, [raw(id)]);
      const [{ pid }] = await runner.query(`SELECT pg_backend_pid() AS pid`);
      const send = runOperation(app, 'SendMessage', { input: { conversationId: id, body: 'am I still in?', clientMessageId: randomUUID() } }, { token: bob.token });
      await expectBlockedBy(pid);
      await runner.query(`DELETE FROM memberships WHERE conversation_id = $1 AND user_id = $2`, [raw(id), bob.user.id]);
      await runner.commitTransaction();
      expect(errorCodes(await send)).toEqual(['NOT_FOUND']);
      expect(await state(id)).toMatchObject({ messages: 0, lastSeq: 2 });
    } finally {
      await runner.release();
    }
  });

  it('leaves no message, event or seq behind when it fails after taking its seq', async () => {
    const id = await openConversation(app, [ada, bob]);
    const dataSource = app.services.dataSource;
    await dataSource.query(`CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'storage failed'; END $$`);
    await dataSource.query(`CREATE TRIGGER refuse_message BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.body = 'explode') EXECUTE FUNCTION refuse_message()`);
    try {
      await expectRefused(id, () => runOperation(app, 'SendMessage', { input: { conversationId: id, body: 'explode', clientMessageId: randomUUID() } }, { token: bob.token }), 'INTERNAL_SERVER_ERROR');
      expect((await sendMessage(app, bob, id, 'fine')).seq).toBe(3);
    } finally {
      await dataSource.query(`DROP TRIGGER refuse_message ON messages; DROP FUNCTION refuse_message()`);
    }
  });
});

/** Waits until some statement waits for a lock the session `pid` holds. */
async function expectBlockedBy(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const [{ waiting }] = await app.services.dataSource.query(`SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, [pid]);
    if (waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no statement waited for the conversation lock');
}

describe('editMessage and deleteMessage', () => {
  it('lets only the author edit; the same body again changes nothing', async () => {
    const id = await openConversation(app, [ada, bob]);
    const message = await sendMessage(app, bob, id, 'draft');
    await expectRefused(id, () => runOperation(app, 'EditMessage', { id: message.id, body: 'hijacked' }, { token: ada.token }), 'FORBIDDEN');
    await expectRefused(id, () => runOperation(app, 'EditMessage', { id: message.id, body: 'peek' }, { token: cy.token }), 'NOT_FOUND');
    await expectRefused(id, () => runOperation(app, 'EditMessage', { id: message.id, body: '   ' }, { token: bob.token }), 'BAD_USER_INPUT');
    await expectRefused(id, () => runOperation(app, 'EditMessage', { id: toGlobalId('Message', randomUUID()), body: 'x' }, { token: bob.token }), 'NOT_FOUND');
    const edited = await runOperation(app, 'EditMessage', { id: message.id, body: 'final' }, { token: bob.token });
    expect(edited.data!.editMessage).toMatchObject({ body: 'final', seq: message.seq, editedAt: expect.any(String) });
    await runOperation(app, 'EditMessage', { id: message.id, body: 'final' }, { token: bob.token });
    expect((await events(id)).map((e) => e.type).slice(2)).toEqual(['MessageAdded', 'MessageEdited']);
  });

  it('keeps the row and seq of a deleted message, nulls its body, and refuses to edit it', async () => {
    const id = await openConversation(app, [ada, bob]);
    const message = await sendMessage(app, bob, id, 'oops');
    await expectRefused(id, () => runOperation(app, 'DeleteMessage', { id: message.id }, { token: ada.token }), 'FORBIDDEN');
    const deleted = await runOperation(app, 'DeleteMessage', { id: message.id }, { token: bob.token });
    expect(deleted.data!.deleteMessage).toMatchObject({ id: message.id, seq: message.seq, body: null, deletedAt: expect.any(String) });
    expect((await runOperation(app, 'DeleteMessage', { id: message.id }, { token: bob.token })).data!.deleteMessage.body).toBeNull();
    await expectRefused(id, () => runOperation(app, 'EditMessage', { id: message.id, body: 'undo' }, { token: bob.token }), 'FORBIDDEN');
    expect((await events(id)).map((e) => e.type).slice(2)).toEqual(['MessageAdded', 'MessageDeleted']);
    const page = await runOperation(app, 'ConversationMessages', { id }, { token: ada.token });
    expect(page.data!.conversation.messages.edges.map((e: any) => [e.node.seq, e.node.body])).toEqual([[message.seq, null]]);
  });
});

describe('reactions', () => {
  it('adds and removes a reaction once each, however often asked', async () => {
    const id = await openConversation(app, [ada, bob]);
    const message = await sendMessage(app, bob, id, 'ship it');
    for (let i = 0; i < 2; i++) {
      const added = await runOperation(app, 'AddReaction', { messageId: message.id, emoji: '🚀' }, { token: ada.token });
      expect(added.data!.addReaction.reactions).toEqual([{ emoji: '🚀', count: 1, viewerHasReacted: true }]);
    }
    await runOperation(app, 'AddReaction', { messageId: message.id, emoji: '👍🏽' }, { token: bob.token });
    for (let i = 0; i < 2; i++) {
      const removed = await runOperation(app, 'RemoveReaction', { messageId: message.id, emoji: '🚀' }, { token: ada.token });
      expect(removed.data!.removeReaction.reactions).toEqual([{ emoji: '👍🏽', count: 1, viewerHasReacted: false }]);
    }
    expect((await events(id)).slice(3).map((e) => [e.type, e.payload.emoji, e.payload.added])).toEqual([
      ['ReactionChanged', '🚀', true],
      ['ReactionChanged', '👍🏽', true],
      ['ReactionChanged', '🚀', false],
    ]);
  });

  it.each(['a', '👍👍', '', ':+1:', '🚀'.repeat(17)])('refuses %j as an emoji', async (emoji) => {
    const id = await openConversation(app, [ada, bob]);
    const message = await sendMessage(app, bob, id, 'react to me');
    await expectRefused(id, () => runOperation(app, 'AddReaction', { messageId: message.id, emoji }, { token: ada.token }), 'BAD_USER_INPUT');
  });
});

describe('markRead', () => {
  it('moves the read marker forward only, and refuses a seq beyond the last', async () => {
    const id = await openConversation(app, [ada, bob]);
    for (let i = 0; i < 3; i++) await sendMessage(app, bob, id, `unread ${i}`);
    const read = (seq: number) => runOperation(app, 'MarkRead', { conversationId: id, seq }, { token: ada.token });
    expect((await read(4)).data!.markRead.unreadCount).toBe(1);
    expect((await read(2)).data!.markRead.unreadCount).toBe(1);
    expect(errorCodes(await read(99))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await read(-1))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await runOperation(app, 'MarkRead', { conversationId: id, seq: 1 }, { token: cy.token }))).toEqual(['NOT_FOUND']);
    expect((await read(5)).data!.markRead.unreadCount).toBe(0);
    const [{ seq }] = await app.services.dataSource.query(`SELECT last_read_seq AS seq FROM memberships WHERE conversation_id = $1 AND user_id = $2`, [raw(id), ada.user.id]);
    expect(seq).toBe(5);
  });
});
