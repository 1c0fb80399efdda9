import { randomUUID } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import { inboundWebhookJob } from '../../src/jobs/inbound-webhook.job';
import { fromGlobalIdOf } from '../../src/pagination/global-id';
import { signInbound } from '../../src/webhooks/inbound';
import { runOperation } from '../helpers/gql';
import { openConversation, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { operation } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs } from '../helpers/ws-client';

const SECRET = 'inbound-webhook-test-secret';

let app: TestApp;
let agent: Member;
let customer: Member;
let support: string;

beforeAll(async () => {
  app = await startTestApp({ INBOUND_WEBHOOK_SECRET: SECRET, JOB_RETRY_LIMIT: '2', JOB_RETRY_DELAY: '1s' });
  [agent, customer] = await Promise.all([createUser(app), createUser(app)]);
  support = await openConversation(app, [agent, customer], 'SUPPORT');
});
afterAll(() => app.stop());

const webhookUrl = () => app.url.replace(/\/graphql$/, '/webhooks/inbound');

function deliver(payload: unknown, { secret = SECRET, raw }: { secret?: string; raw?: string } = {}) {
  const body = raw ?? JSON.stringify(payload);
  return fetch(webhookUrl(), { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(secret, body) }, body });
}

const inbound = (overrides: Record<string, unknown> = {}) => ({
  externalEventId: `sms-${randomUUID()}`,
  conversationId: support,
  authorHandle: customer.user.handle,
  body: 'Hello from SMS',
  sentAt: new Date().toISOString(),
  ...overrides,
});

/** A SUPPORT conversation its owner closed. */
async function closedSupport(): Promise<string> {
  const id = await openConversation(app, [agent, customer], 'SUPPORT');
  await runOperation(app, 'CloseConversation', { id }, { token: agent.token });
  return id;
}

async function messageCount(): Promise<number> {
  const [{ n }] = await app.services.dataSource.query(`SELECT count(*)::int AS n FROM messages WHERE author_id = $1`, [customer.user.id]);
  return n;
}

async function jobCount(): Promise<number> {
  const [{ n }] = await app.services.dataSource.query(`SELECT count(*)::int AS n FROM "${app.config.jobs.schema}".job WHERE name = 'inbound-webhook'`);
  return n;
}

describe('POST /webhooks/inbound', () => {
  it('refuses a missing or wrong signature with 401 and stores nothing', async () => {
    const [messagesBefore, jobsBefore] = [await messageCount(), await jobCount()];
    const payload = JSON.stringify(inbound());
    const unsigned = await fetch(webhookUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
    expect(unsigned.status).toBe(401);
    expect((await deliver(undefined, { raw: payload, secret: 'another-secret-of-some-length' })).status).toBe(401);
    const tampered = await fetch(webhookUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, payload) },
      body: payload.replace('Hello', 'Pay me'),
    });
    expect(tampered.status).toBe(401);
    expect([await messageCount(), await jobCount()]).toEqual([messagesBefore, jobsBefore]);
  });

  it.each([
    ['a body that is not JSON', { raw: '{not json' }, 'The body is not JSON.'],
    ['a missing field', { payload: { body: undefined } }, 'body: '],
    ['a bad date', { payload: { sentAt: 'yesterday' } }, 'sentAt: '],
    ['a malformed conversation id', { payload: { conversationId: 'nope' } }, 'conversationId: "nope" is not a valid id.'],
  ])('refuses %s with 400 and the reason', async (_case, { raw, payload }: { raw?: string; payload?: Record<string, unknown> }, reason) => {
    const response = await deliver(inbound(payload), { raw });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain(reason);
  });

  it.each<[string, () => Promise<Record<string, unknown>>, string]>([
    ['a conversation that is not SUPPORT', async () => ({ conversationId: await openConversation(app, [agent, customer], 'GROUP') }), 'webhooks post only into SUPPORT conversations'],
    ['a closed conversation', async () => ({ conversationId: await closedSupport() }), 'the conversation is closed'],
    ['an author who is not a member', async () => ({ authorHandle: (await createUser(app)).user.handle }), 'is not a member of the conversation'],
    ['an unknown handle', async () => ({ authorHandle: 'nobody_here' }), 'authorHandle: no user @nobody_here.'],
    ['a body over MESSAGE_MAX_LENGTH', async () => ({ body: '😀'.repeat(4001) }), 'body must be 1 to 4000 characters after trimming, got 4001.'],
    ['a body of invisible characters', async () => ({ body: '\u200B\u2060' }), 'body must contain at least one visible character.'],
    ['a NUL character', async () => ({ body: 'a\u0000b' }), 'Text may not contain NUL characters (U+0000); found in $.body.'],
  ])('refuses %s with 400 and the reason, before anything is queued', async (_case, overrides, reason) => {
    const payload = inbound(await overrides());
    const [messagesBefore, jobsBefore] = [await messageCount(), await jobCount()];
    const response = await deliver(payload);
    expect({ status: response.status, error: ((await response.json()) as { error: string }).error }).toEqual({ status: 400, error: expect.stringContaining(reason) });
    expect([await messageCount(), await jobCount()]).toEqual([messagesBefore, jobsBefore]);
  });

  it('turns 500 concurrent deliveries, 100 of them repeats, into exactly 400 messages that subscribers see', async () => {
    const before = await messageCount();
    const client = connectWs(app.wsUrl, { token: agent.token });
    try {
      const [{ seq }] = await app.services.dataSource.query(`SELECT last_seq AS seq FROM conversations WHERE id = $1`, [Buffer.from(support, 'base64url').toString().split(':')[1]]);
      const subscription = client.subscribe(operation('ConversationEvents'), { conversationId: support, afterSeq: seq });
      const unique = Array.from({ length: 400 }, (_, i) => inbound({ body: `inbound ${i}` }));
      const deliveries = [...unique, ...unique.slice(0, 100)];
      const responses = await Promise.all(deliveries.map((payload) => deliver(payload)));
      expect(responses.map((r) => r.status)).toEqual(deliveries.map(() => 202));
      const seen = new Set<string>();
      while (seen.size < 400) {
        const result: ExecutionResult = await subscription.next(20_000);
        seen.add((result.data as any).conversationEvents.message.body);
      }
      expect(seen).toEqual(new Set(unique.map((u) => u.body)));
      expect(await messageCount()).toBe(before + 400);
    } finally {
      await client.dispose();
    }
  }, 60_000);

  it('stores one message for an event redelivered under another author, concurrently or later', async () => {
    const externalEventId = `mail-${randomUUID()}`;
    const countFor = async () =>
      (await app.services.dataSource.query(`SELECT count(*)::int AS n FROM inbound_events WHERE external_event_id = $1`, [externalEventId]))[0].n as number;
    const [a, b] = [inbound({ externalEventId, body: 'as the customer' }), inbound({ externalEventId, authorHandle: agent.user.handle, body: 'as the agent' })];
    const responses = await Promise.all([deliver(a), deliver(b), deliver(a), deliver(b)]);
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202]);
    await expectEventually(async () => expect(await countFor()).toBe(1));
    expect((await deliver(b)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const [{ n }] = await app.services.dataSource.query(`SELECT count(*)::int AS n FROM messages WHERE body IN ('as the customer', 'as the agent')`);
    expect(n).toBe(1);
    expect(await countFor()).toBe(1);
  });

  it('retries a job that fails, then moves it to the dead-letter queue, visible in /metrics', async () => {
    // Accepted, then impossible by the time the job runs (here: queued for a GROUP conversation
    // straight away, as a check made at delivery cannot see what changes after it).
    const group = await openConversation(app, [agent, customer], 'GROUP');
    await app.services.jobs.send(inboundWebhookJob, { ...inbound(), conversationId: fromGlobalIdOf('Conversation', group) });
    await expectEventually(
      async () => {
        const text = await (await fetch(app.url.replace(/\/graphql$/, '/metrics'))).text();
        expect(text).toMatch(/^parley_jobs_dead_letter\{queue="inbound-webhook"\} 1$/m);
        // The first attempt and JOB_RETRY_LIMIT retries.
        expect(text).toMatch(/^parley_job_runs_total\{queue="inbound-webhook",outcome="failed"\} 3$/m);
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
  }, 30_000);

  it('is accepted by an API-only instance (JOBS_ENABLED=false) and run by one with workers', async () => {
    const apiOnly = await startTestApp({ INBOUND_WEBHOOK_SECRET: SECRET, JOBS_ENABLED: 'false', DATABASE_SCHEMA: app.config.database.schema, REDIS_KEY_PREFIX: app.config.redis.keyPrefix });
    try {
      const before = await messageCount();
      const body = JSON.stringify(inbound({ body: 'through the API-only instance' }));
      const response = await fetch(apiOnly.url.replace(/\/graphql$/, '/webhooks/inbound'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, body) },
        body,
      });
      expect(response.status).toBe(202);
      await expectEventually(async () => expect(await messageCount()).toBe(before + 1), { timeoutMs: 10_000 });
    } finally {
      await apiOnly.stop();
    }
  });

  it('is off without INBOUND_WEBHOOK_SECRET', async () => {
    const plain = await startTestApp({ DATABASE_SCHEMA: app.config.database.schema, REDIS_KEY_PREFIX: app.config.redis.keyPrefix, JOBS_ENABLED: 'false' });
    try {
      const response = await fetch(plain.url.replace(/\/graphql$/, '/webhooks/inbound'), { method: 'POST', body: '{}' });
      expect(response.status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});
