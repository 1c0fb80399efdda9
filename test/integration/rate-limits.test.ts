import { randomUUID } from 'node:crypto';
import { buildSchema } from 'type-graphql';
import { Arg, Directive, Query, Resolver } from 'type-graphql';
import { applyRateLimits, rateLimitDirective } from '../../src/directives/rate-limit.directive';
import { createMemoryRateLimiter } from '../../src/security/rate-limiter';
import { createInProcessBus } from '../../src/events/bus';
import { createStringTable } from '../../src/events/strings';
import { openConversation, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { operation } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

/** Two instances on one Redis, with the limits the schema declares. */
let a: TestApp;
let b: TestApp;
const clients: TestWsClient[] = [];

beforeAll(async () => {
  a = await startTestApp({ RATE_LIMITS: 'on' });
  b = await startTestApp({ RATE_LIMITS: 'on', DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix });
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await b.stop();
  await a.stop();
});

const send = (app: TestApp, author: Member, conversationId: string, body = 'hi') =>
  runOperation(app, 'SendMessage', { input: { conversationId, body, clientMessageId: randomUUID() } }, { token: author.token });

async function messageCount(conversationId: string, member: Member): Promise<number> {
  const response = await runOperation(a, 'ConversationMessages', { id: conversationId, last: 100 }, { token: member.token });
  return response.data!.conversation.messages.edges.length;
}

describe('@rateLimit', () => {
  it('lets exactly 30 of 50 concurrent sendMessage calls through across two instances, refusing the rest before they write', async () => {
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i % 2 === 0 ? a : b, ada, id, `burst ${i}`)));
    const codes = responses.map((r) => errorCodes(r)[0] ?? 'OK');
    expect(codes.filter((c) => c === 'OK')).toHaveLength(30);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(20);
    const refused = responses.find((r) => r.errors)!.errors![0];
    expect(refused.message).toMatch(/^Too many calls of Mutation\.sendMessage: at most 30 per 10s\. Try again in \d+s\.$/);
    expect(refused.extensions!.retryAfterSeconds).toEqual(expect.any(Number));
    expect(refused.extensions!.retryAfterSeconds as number).toBeGreaterThanOrEqual(1);
    expect(refused.extensions!.retryAfterSeconds as number).toBeLessThanOrEqual(10);
    const [{ n }] = await a.services.dataSource.query(`SELECT count(*)::int AS n FROM messages WHERE author_id = $1`, [ada.user.id]);
    expect(n).toBe(30);
    // Another user has a budget of their own.
    expect(errorCodes(await send(b, bob, id))).toEqual([]);
  });

  it('counts every alias of a limited field; a refused one stops the mutations after it', async () => {
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const aliased = (count: number) =>
      `mutation ($id: ID!) { ${Array.from({ length: count }, (_, i) => `m${i}: sendMessage(input: { conversationId: $id, body: "alias ${i}", clientMessageId: "${randomUUID()}" }) { id }`).join(' ')} }`;
    const first = await gql(a, aliased(20), { id }, { token: ada.token });
    expect(first.errors).toBeUndefined();
    // Mutation fields run one after another; the 11th is refused, and as sendMessage is non-null the
    // whole result is null and the remaining aliases do not run.
    const second = await gql(a, aliased(20), { id }, { token: ada.token });
    expect(errorCodes(second)).toEqual(['RATE_LIMITED']);
    expect(second.errors![0].path).toEqual(['m10']);
    expect(second.data).toBeNull();
    expect(await messageCount(id, bob)).toBe(30);
  });

  it('counts anonymous calls per client address, believing X-Forwarded-For only behind a trusted proxy', async () => {
    const signUp = (app: TestApp, forwardedFor: string) => {
      const handle = `rl_${randomUUID().slice(0, 8)}`;
      const input = { handle, displayName: 'Rate Limited', email: `${handle}@example.com`, password: 'long enough password' };
      return runOperation(app, 'SignUp', { input }, { headers: { 'x-forwarded-for': forwardedFor } });
    };
    const spoofed = await Promise.all(Array.from({ length: 6 }, (_, i) => signUp(a, `203.0.113.${i}`)));
    expect(spoofed.map((r) => errorCodes(r)[0] ?? 'OK').sort()).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'RATE_LIMITED']);

    const behindProxy = await startTestApp({ RATE_LIMITS: 'on', TRUST_PROXY: 'loopback', DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: `${a.config.redis.keyPrefix}proxy:` });
    try {
      const clients = await Promise.all(Array.from({ length: 6 }, (_, i) => signUp(behindProxy, `198.51.100.${i}`)));
      expect(clients.map((r) => errorCodes(r))).toEqual(Array.from({ length: 6 }, () => []));
      const oneClient = await Promise.all(Array.from({ length: 6 }, () => signUp(behindProxy, '198.51.100.77')));
      expect(oneClient.map((r) => errorCodes(r)[0] ?? 'OK').sort()).toEqual(['OK', 'OK', 'OK', 'OK', 'OK', 'RATE_LIMITED']);
    } finally {
      await behindProxy.stop();
    }
  });

  it('counts signIn per client address even when the caller sends a token', async () => {
    const behindProxy = await startTestApp({ RATE_LIMITS: 'on', TRUST_PROXY: 'loopback', DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: `${a.config.redis.keyPrefix}tokens:` });
    try {
      const accounts = await Promise.all(Array.from({ length: 11 }, () => createUser(a)));
      const attempts = await Promise.all(
        accounts.map(({ token }) =>
          runOperation(behindProxy, 'SignIn', { input: { login: 'victim', password: 'guess guess guess' } }, { token, headers: { 'x-forwarded-for': '198.51.100.9' } }),
        ),
      );
      expect(attempts.map((r) => errorCodes(r)[0]).sort()).toEqual(['RATE_LIMITED', ...Array.from({ length: 10 }, () => 'UNAUTHENTICATED')]);
    } finally {
      await behindProxy.stop();
    }
  });

  it('lets a user send again once the window has passed, and applies to mutations over WebSocket', async () => {
    const short = await startTestApp({
      RATE_LIMITS: 'on',
      RATE_LIMIT_OVERRIDES: 'Mutation.sendMessage=3/1s',
      DATABASE_SCHEMA: a.config.database.schema,
      REDIS_KEY_PREFIX: a.config.redis.keyPrefix,
    });
    try {
      const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
      const id = await openConversation(a, [ada, bob]);
      const client = connectWs(short.wsUrl, { token: ada.token });
      clients.push(client);
      const overWs = () => client.execute(operation('SendMessage'), { input: { conversationId: id, body: 'ws', clientMessageId: randomUUID() } });
      for (let i = 0; i < 3; i++) expect((await overWs()).errors).toBeUndefined();
      const refused = await overWs();
      expect(refused.errors!.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
      await new Promise((resolve) => setTimeout(resolve, (refused.errors![0].extensions!.retryAfterSeconds as number) * 1000 + 100));
      expect(errorCodes(await send(short, ada, id))).toEqual([]);
    } finally {
      await short.stop();
    }
  });
});

describe('subscriptions per socket', () => {
  it('caps active subscriptions and subscribe messages per second on one connection, keeping it open', async () => {
    const capped = await startTestApp({ WS_MAX_SUBSCRIPTIONS: '3', WS_SUBSCRIBE_RATE: '5', DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix });
    try {
      const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
      const id = await openConversation(a, [ada, bob]);
      const client = connectWs(capped.wsUrl, { token: ada.token });
      clients.push(client);
      const follow = () => client.subscribe(operation('ConversationEvents'), { conversationId: id, afterSeq: 2 });
      const held = [follow(), follow(), follow()];
      const fourth = await follow().finished();
      expect(fourth.error).toEqual([expect.objectContaining({ message: expect.stringContaining('At most 3 active subscriptions'), extensions: { code: 'RATE_LIMITED' } })]);
      held.forEach((subscription) => subscription.unsubscribe());
      await new Promise((resolve) => setTimeout(resolve, 1_100));

      const outcomes = [];
      for (let i = 0; i < 7; i++) outcomes.push(await client.subscribe(operation('Me')).finished());
      const refused = outcomes.filter((o) => o.error);
      expect(refused).toHaveLength(2);
      expect(refused[0].error).toEqual([expect.objectContaining({ message: 'At most 5 subscribe messages per second on one connection.' })]);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await client.execute(operation('Me'))).toMatchObject({ data: { me: { handle: ada.user.handle } } });
    } finally {
      await capped.stop();
    }
  });
});

describe('start-up checks', () => {
  @Resolver()
  class LimitedResolver {
    @Directive('@rateLimit(max: 5, window: "soon")')
    @Query(() => String)
    ping(@Arg('x', () => String, { nullable: true }) _x?: string): string {
      return 'pong';
    }
  }

  async function limitedSchema() {
    return buildSchema({ resolvers: [LimitedResolver], directives: [rateLimitDirective], pubSub: createInProcessBus(createStringTable()), authChecker: () => true });
  }

  it('refuses a window that does not parse, and an override naming no field', async () => {
    const schema = await limitedSchema();
    const options = { limiter: createMemoryRateLimiter(), enabled: true, overrides: {} };
    expect(() => applyRateLimits(schema, options)).toThrow('@rateLimit on Query.ping needs max ≥ 1 and a window of whole seconds such as "10s" or "1m", got max 5, window "soon"');
    expect(() => applyRateLimits(schema, { ...options, overrides: { 'Query.ping': { max: 1, windowMs: 1000 }, 'Query.nope': { max: 1, windowMs: 1000 } } })).toThrow(
      'RATE_LIMIT_OVERRIDES names fields the schema does not have: Query.nope',
    );
  });
});
