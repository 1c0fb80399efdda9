import { randomUUID } from 'node:crypto';
import { createParleyClient } from '@parley/client';
import { parse } from 'graphql';
import type { Pool, PoolClient } from 'pg';
import WebSocket from 'ws';
import { buildParleySchema } from '../../src/schema';
import { shareKey } from '../../src/subscriptions/shared-execution';
import { fromGlobalId } from '../../src/pagination/global-id';
import { ConversationKind } from '../../src/entities/conversation.entity';
import { inboundWebhookJob } from '../../src/jobs/inbound-webhook.job';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createConversation } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

const runOperationText = (app: TestApp, query: string, token: string) => gql(app, query, {}, { token });

/** Statements of the app's own (not this instance's minute flush of live figures). */
const own = (app: TestApp) => app.queries.filter((sql) => !sql.includes('metric_instance_minutes'));

describe('sendMessage in one round trip, and events that carry what subscribers render', () => {
  // Two instances on one Redis: the event crosses the bus as JSON before it is rendered.
  let writer: TestApp;
  let reader: TestApp;
  let ada: Member;
  let bob: Member;
  const clients: TestWsClient[] = [];

  beforeAll(async () => {
    writer = await startTestApp();
    reader = await startTestApp({ DATABASE_SCHEMA: writer.config.database.schema, REDIS_KEY_PREFIX: writer.config.redis.keyPrefix });
    [ada, bob] = await Promise.all([createUser(writer), createUser(writer)]);
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await reader.stop();
    await writer.stop();
  });

  it('stores a message with one SQL statement', async () => {
    const id = await openConversation(writer, [ada, bob]);
    await sendMessage(writer, bob, id, 'warm-up'); // the author's account is then known to be active for a while
    writer.queries.length = 0;
    const message = await sendMessage(writer, bob, id, 'one round trip');
    expect(message).toMatchObject({ seq: 4, body: 'one round trip' });
    expect(own(writer)).toHaveLength(1);
    expect(own(writer)[0]).toContain('parley_send_message');
  });

  it('posts an inbound webhook event with one SQL statement, and a redelivery with one that writes nothing', async () => {
    const conversationId = await createConversation(writer, [ada.user.id, bob.user.id], { kind: ConversationKind.SUPPORT });
    const payload = { externalEventId: `sms-${randomUUID()}`, conversationId, authorHandle: bob.user.handle, body: 'from the gateway', sentAt: new Date().toISOString() };
    const { dataSource, sql, bus, logger, config, metrics } = writer.services;
    const run = () => inboundWebhookJob.run({ dataSource, sql, bus, logger, config, metrics }, payload, { now: () => new Date(), lastAttempt: false });
    for (let delivery = 0; delivery < 2; delivery++) {
      writer.queries.length = 0;
      await run();
      expect(own(writer)).toHaveLength(1);
      expect(own(writer)[0]).toContain('parley_send_message');
    }
    const [{ count }] = await dataSource.query(`SELECT count(*)::int AS count FROM messages WHERE conversation_id = $1`, [conversationId]);
    expect(count).toBe(1);
  });

  it('edits, deletes and reacts with one SQL statement each, and a change that changes nothing takes no seq', async () => {
    const id = await openConversation(writer, [ada, bob]);
    const message = await sendMessage(writer, bob, id, 'to be changed');
    // Only fields the change returns, none read again (a selection of reactions would read them).
    const statements = async (token: string, field: string, args: Record<string, string>) => {
      writer.queries.length = 0;
      const call = Object.keys(args).map((name) => `${name}: "${args[name]}"`).join(', ');
      const answer = await gql(writer, `mutation { ${field}(${call}) { id seq body editedAt deletedAt author { handle } } }`, {}, { token });
      expect(answer.errors).toBeUndefined();
      expect(own(writer)).toHaveLength(1);
      expect(own(writer)[0]).toContain('parley_change_message');
    };
    const reaction = { messageId: message.id, emoji: '👍' };
    await statements(bob.token, 'editMessage', { id: message.id, body: 'changed' });
    await statements(bob.token, 'editMessage', { id: message.id, body: 'changed' });
    await statements(ada.token, 'addReaction', reaction);
    await statements(ada.token, 'addReaction', reaction);
    await statements(ada.token, 'removeReaction', reaction);
    await statements(bob.token, 'deleteMessage', { id: message.id });
    await statements(bob.token, 'deleteMessage', { id: message.id });
    const events = await writer.services.dataSource.query(`SELECT seq, type FROM conversation_events WHERE conversation_id = $1 AND seq > $2 ORDER BY seq`, [fromGlobalId(id).id, message.seq]);
    expect(events).toEqual([
      { seq: message.seq + 1, type: 'MessageEdited' },
      { seq: message.seq + 2, type: 'ReactionChanged' },
      { seq: message.seq + 3, type: 'ReactionChanged' },
      { seq: message.seq + 4, type: 'MessageDeleted' },
    ]);
  });

  it('delivers MessageAdded and MessageEdited with no read on the receiving instance, rendered as a replay renders them', async () => {
    const id = await openConversation(writer, [ada, bob]);
    const client = connectWs(reader.wsUrl, { token: ada.token });
    clients.push(client);
    // From after the two MemberJoined: the first message arrives, replayed or live, once the
    // subscription is set up (membership, head of the log) and listening.
    const live = client.subscribe(operation('ConversationEvents'), { conversationId: id, afterSeq: 2 });
    const readerQueriesBefore = () => own(reader).length;
    const warm = await sendMessage(writer, bob, id, 'first');
    expect((await live.next()).data!.conversationEvents).toMatchObject({ __typename: 'MessageAdded', message: { id: warm.id } });

    const before = readerQueriesBefore();
    const sent = await sendMessage(writer, bob, id, 'hello, carried');
    const edited = await runOperation(writer, 'EditMessage', { id: sent.id, body: 'hello, edited' }, { token: bob.token });
    expect(edited.errors).toBeUndefined();
    const added = (await live.next()).data!.conversationEvents as Record<string, any>;
    const edit = (await live.next()).data!.conversationEvents as Record<string, any>;
    expect(added).toMatchObject({ __typename: 'MessageAdded', message: { id: sent.id, body: 'hello, carried', author: { handle: bob.user.handle } } });
    expect(edit).toMatchObject({ __typename: 'MessageEdited', message: { id: sent.id, body: 'hello, edited', editedAt: expect.any(String) } });
    expect(own(reader).slice(before)).toEqual([]);

    // A replay reads the message as it is now: MessageAdded shows the edited body, every other field alike.
    const replay = client.subscribe(operation('ConversationEvents'), { conversationId: id, afterSeq: added.seq - 1 });
    const replayedAdded = (await replay.next()).data!.conversationEvents as Record<string, any>;
    const replayedEdit = (await replay.next()).data!.conversationEvents as Record<string, any>;
    replay.unsubscribe();
    expect(replayedEdit).toEqual(edit);
    expect(replayedAdded).toEqual({ ...added, message: { ...added.message, body: 'hello, edited', editedAt: edit.message.editedAt } });
    live.unsubscribe();
  });

  it('shows the author their own e-mail from a carried event, and no one else', async () => {
    const id = await openConversation(writer, [ada, bob]);
    const [own, other] = [connectWs(reader.wsUrl, { token: bob.token }), connectWs(reader.wsUrl, { token: ada.token })];
    clients.push(own, other);
    const query = `subscription ($id: ID!) { conversationEvents(conversationId: $id, afterSeq: 2) { ... on MessageAdded { message { body author { handle email } } } } }`;
    const [mine, theirs] = [own.subscribe(query, { id }), other.subscribe(query, { id })];
    // Both are listening once both have the first message (replayed or live); the second is live.
    await sendMessage(writer, bob, id, 'first');
    const next = async (subscription: typeof mine) => ((await subscription.next()).data!.conversationEvents as Record<string, any>).message;
    await Promise.all([next(mine), next(theirs)]);
    await sendMessage(writer, bob, id, 'whose address?');
    expect(await next(mine)).toEqual({ body: 'whose address?', author: { handle: bob.user.handle, email: bob.user.email } });
    expect(await next(theirs)).toEqual({ body: 'whose address?', author: { handle: bob.user.handle, email: null } });
  });
});

describe('overload is refused, not queued', () => {
  let app: TestApp;
  let ada: Member;
  let bob: Member;

  beforeAll(async () => {
    // Two connections, and a wait for one of at most a millisecond: a burst must be refused in part.
    app = await startTestApp({ REDIS_URL: '', DATABASE_POOL_MAX: '2', DATABASE_POOL_QUEUE_TIMEOUT: '1ms' });
    [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
  });
  afterAll(() => app.stop());

  it('answers SERVICE_UNAVAILABLE with retryAfterSeconds, and retries with the same clientMessageId store each message once', async () => {
    const id = await openConversation(app, [ada, bob]);
    const keys: string[] = Array.from({ length: 200 }, () => randomUUID());
    const send = (key: string) => runOperation(app, 'SendMessage', { input: { conversationId: id, body: `key ${key}`, clientMessageId: key } }, { token: bob.token });
    let refused = 0;
    let pending = keys;
    for (let round = 0; pending.length > 0; round++) {
      if (round > 100) throw new Error(`${pending.length} sends still refused after 100 rounds`);
      const answers = await Promise.all(pending.map(send));
      const failed: string[] = [];
      answers.forEach((answer, i) => {
        if (!answer.errors) return;
        expect(errorCodes(answer)).toEqual(['SERVICE_UNAVAILABLE']);
        expect(answer.errors[0].extensions).toMatchObject({ retryAfterSeconds: expect.any(Number) });
        failed.push(pending[i]);
      });
      if (round === 0) refused = failed.length;
      pending = failed;
    }
    expect(refused).toBeGreaterThan(0);
    const [stored] = await app.services.dataSource.query(
      `SELECT count(*)::int AS messages, count(DISTINCT client_message_id)::int AS keys, max(seq) - min(seq) + 1 AS span FROM messages WHERE conversation_id = $1`,
      [fromGlobalId(id).id],
    );
    expect(stored).toEqual({ messages: 200, keys: 200, span: 200 });
  });

  it('survives thousands of callers giving up on the pool at once', async () => {
    // Each caller that gave up once stayed in pg-pool's queue, and a released connection recursed
    // through all of them: the process died of a stack overflow in S3.
    const outcomes = await Promise.all(
      Array.from({ length: 5_000 }, () =>
        app.services.sql.rows('SELECT pg_sleep(0.002)').then(
          () => 'ran',
          (error: Error) => error.name,
        ),
      ),
    );
    expect(new Set(outcomes)).toEqual(new Set(['ran', 'PoolBusyError']));
    expect((await app.services.sql.rows<{ one: number }>('SELECT 1 AS one'))[0].one).toBe(1);
  });

  it('answers reads refused under overload with SERVICE_UNAVAILABLE too, compiled or not', async () => {
    const id = await openConversation(app, [ada, bob]);
    await sendMessage(app, bob, id, 'hello');
    const inbox = `query { conversations(first: 10) { edges { node { lastMessage { author { handle } } unreadCount members(first: 5) { edges { node { handle } } } messages(last: 20) { edges { node { body author { handle } reactions { emoji count } } } } } } } }`;
    const answers = await Promise.all(Array.from({ length: 40 }, () => runOperationText(app, inbox, ada.token)));
    const codes = new Set(answers.flatMap((answer) => errorCodes(answer)));
    // graphql-jit's errors once lost their cause on the way to Apollo Server and became INTERNAL_SERVER_ERROR.
    expect([...codes]).toEqual(['SERVICE_UNAVAILABLE']);
  });

  it('refuses a subscription set-up under overload with SERVICE_UNAVAILABLE, and the client helper subscribes again after retryAfterSeconds', async () => {
    const id = await openConversation(app, [ada, bob]);
    await sendMessage(app, bob, id, 'before'); // Bob's account is known to the instance: connecting needs no read.
    // Both of the pool's connections held: the subscription's membership read cannot get one.
    const pool = (app.services.dataSource.driver as unknown as { master: Pool }).master;
    const held: PoolClient[] = await Promise.all([pool.connect(), pool.connect()]);
    const parley = createParleyClient({ url: app.wsUrl, token: () => bob.token, webSocketImpl: WebSocket });
    try {
      const refusals: unknown[] = [];
      parley.client.on('message', (message) => {
        if (message.type === 'next' && message.payload.errors) refusals.push(message.payload);
      });
      const bodies: string[] = [];
      const errors: unknown[] = [];
      parley.subscribe({ query: operation('ConversationEvents'), variables: { conversationId: id } }, {
        next: ({ data }) => bodies.push((data as { conversationEvents: { message?: { body: string } } }).conversationEvents.message?.body ?? ''),
        error: (error) => errors.push(error),
        complete: () => errors.push('completed'),
      });
      // A set-up that failed answers with errors and no data, then completes (GraphQL over WebSocket).
      await expectEventually(() => expect(refusals[0]).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 } })] }));
      held.forEach((client) => client.release());
      held.length = 0;
      // Sent until the subscription, set up again after a second, receives one.
      await expectEventually(
        async () => {
          await sendMessage(app, ada, id, 'after the refusal');
          expect(bodies).toContain('after the refusal');
        },
        { timeoutMs: 15_000, intervalMs: 250 },
      );
      expect(errors).toEqual([]);
      // The refusal reached neither the sink nor the app as an end.
      expect(bodies.every((body) => body === 'after the refusal')).toBe(true);
    } finally {
      held.forEach((client) => client.release());
      await parley.dispose();
    }
  });
});

describe("sharing in Parley's schema", () => {
  it('shares the documented conversation subscription, and runs per subscriber a field whose resolver reads the viewer', async () => {
    const schema = await buildParleySchema({ pubSub: { publish: () => undefined, subscribe: () => undefined } as never });
    const key = (document: string) => shareKey(schema, parse(document), undefined, { conversationId: 'c' });
    expect(key(operation('ConversationEvents'))).not.toBeNull();
    // Message.conversation finds the conversation as the viewer may see it: it declares nothing, so it is not shared.
    expect(key('subscription ($conversationId: ID!) { conversationEvents(conversationId: $conversationId) { ... on MessageAdded { message { conversation { id } } } } }')).toBeNull();
    expect(key('subscription ($conversationId: ID!) { conversationEvents(conversationId: $conversationId) { ... on MessageAdded { message { author { email } } } } }')).toBeNull();
  });
});

describe('load shed at the door', () => {
  let app: TestApp;
  let ada: Member;
  let bob: Member;

  beforeAll(async () => {
    // Three requests in progress at most; they may wait for a connection (the test holds one) as long as they need.
    app = await startTestApp({ REDIS_URL: '', HTTP_MAX_IN_FLIGHT: '3', DATABASE_POOL_MAX: '2', DATABASE_POOL_QUEUE_TIMEOUT: '60s' });
    [ada, bob] = await Promise.all([createUser(app), createUser(app)]);
  });
  afterAll(() => app.stop());

  it('refuses requests past HTTP_MAX_IN_FLIGHT at once with 503, Retry-After and SERVICE_UNAVAILABLE; retried, each is stored once', async () => {
    const id = await openConversation(app, [ada, bob]);
    const keys = Array.from({ length: 10 }, () => randomUUID());
    const send = (key: string) =>
      fetch(app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bob.token}` },
        body: JSON.stringify({ query: operation('SendMessage'), variables: { input: { conversationId: id, body: key, clientMessageId: key } } }),
      });
    // Hold the conversation: the three requests let in cannot finish until it is released.
    const holder = app.services.dataSource.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    await holder.query(`SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, [fromGlobalId(id).id]);
    const answers = keys.map((key) =>
      send(key).then(async (response) => ({ key, status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { errors?: { extensions?: unknown }[] } })),
    );
    const refused: Awaited<(typeof answers)[number]>[] = [];
    for (const answer of answers) void answer.then((a) => a.status === 503 && refused.push(a));
    // Seven are refused while the conversation is still held: nothing but the door answered them.
    await expectEventually(() => expect(refused).toHaveLength(7));
    for (const answer of refused) {
      expect(answer.retryAfter).toBe('1');
      expect(answer.body.errors![0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 });
    }
    await holder.commitTransaction();
    await holder.release();
    const settled = await Promise.all(answers);
    expect(settled.filter((a) => a.status === 200 && !a.body.errors)).toHaveLength(3);
    for (const { key } of refused) expect((await send(key)).status).toBe(200);
    const [{ count }] = await app.services.dataSource.query(`SELECT count(*)::int AS count FROM messages WHERE conversation_id = $1`, [fromGlobalId(id).id]);
    expect(count).toBe(10);
  });
});
