import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Webhook } from 'standardwebhooks';
import { parleyWebhooks, type ParleyWebhook } from '../../docs/examples/webhook-receiver';
import { openConversation, sendMessage, globalUserId, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, runOperation } from '../helpers/gql';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { fromGlobalIdOf } from '../../src/pagination/global-id';
import { connectWs } from '../helpers/ws-client';
import { operation } from '../helpers/operations';

/** Outbound webhooks (issue 18, point 3), against a receiver in this file, verified with the `standardwebhooks` library. */

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A receiver whose paths behave differently: `/flaky` fails the first two attempts of each
 * webhook-id, `/down` answers 500 until told otherwise, `/hang` answers nothing until released.
 */
class Receiver {
  readonly received: Received[] = [];
  downStatus = 500;
  private readonly attemptsById = new Map<string, number>();
  private readonly hanging: ServerResponse[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const path = request.url!;
    this.received.push({ path, headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
    const id = request.headers['webhook-id'] as string;
    const attempts = (this.attemptsById.get(`${path} ${id}`) ?? 0) + 1;
    this.attemptsById.set(`${path} ${id}`, attempts);
    if (path === '/hang') return void this.hanging.push(response);
    const status = path === '/flaky' ? (attempts <= 2 ? 503 : 200) : path === '/down' ? this.downStatus : 200;
    response.writeHead(status).end();
  }

  at(path: string): Received[] {
    return this.received.filter((request) => request.path === path);
  }

  hangingCount(): number {
    return this.hanging.length;
  }

  /** Answers 200 to every request held so far. */
  releaseHanging(): void {
    for (const response of this.hanging.splice(0)) response.writeHead(200).end();
  }

  async stop(): Promise<void> {
    for (const response of this.hanging.splice(0)) response.writeHead(200).end();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const receiver = new Receiver();
let app: TestApp;
let admin: Member;
let ada: Member;
let bob: Member;
let carol: Member;
const disposers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  await receiver.start();
  app = await startTestApp({
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_RETRY_DELAY: '50ms',
    WEBHOOK_MAX_ATTEMPTS: '3',
    WEBHOOK_POLL_INTERVAL: '50ms',
    WEBHOOK_CONCURRENCY: '8',
    WEBHOOK_TIMEOUT: '60s',
  });
  [admin, ada, bob, carol] = await Promise.all([createUser(app), createUser(app), createUser(app), createUser(app)]);
  await app.services.dataSource.query(`UPDATE users SET role = 'ADMIN' WHERE id = $1`, [admin.user.id]);
});
afterAll(async () => {
  for (const dispose of disposers.reverse()) await dispose();
  await receiver.stop();
  await app.stop();
});

type Endpoint = { id: string; secret: string };

async function register(path: string, events: string[], on: TestApp = app, as: Member = admin): Promise<Endpoint> {
  const response = await runOperation(on, 'CreateWebhookEndpoint', { input: { url: `${receiver.url}${path}`, events, description: `test ${path}` } }, { token: as.token });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  const { endpoint, secret } = response.data!.createWebhookEndpoint;
  disposers.push(() => runOperation(on, 'DeleteWebhookEndpoint', { id: endpoint.id }, { token: admin.token }));
  return { id: endpoint.id, secret };
}

async function deliveries(endpoint: Endpoint, status?: string) {
  const response = await runOperation(app, 'WebhookDeliveries', { endpointId: endpoint.id, status, first: 100 }, { token: admin.token });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data!.webhookDeliveries.edges.map((edge: { node: Record<string, any> }) => edge.node);
}

const parsed = (request: Received) => JSON.parse(request.body);

describe('outbound webhooks', () => {
  it('lets only an ADMIN register endpoints, refuses bad URLs and events, and shows the secret only once', async () => {
    const input = { url: `${receiver.url}/ok`, events: ['message.created'] };
    expect(errorCodes(await runOperation(app, 'CreateWebhookEndpoint', { input }, { token: ada.token }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await runOperation(app, 'WebhookEndpoints', {}, { token: ada.token }))).toEqual(['FORBIDDEN']);
    const refusals = await Promise.all([
      runOperation(app, 'CreateWebhookEndpoint', { input: { ...input, url: 'ftp://example.com/hook' } }, { token: admin.token }),
      runOperation(app, 'CreateWebhookEndpoint', { input: { ...input, events: ['message.sent'] } }, { token: admin.token }),
      runOperation(app, 'CreateWebhookEndpoint', { input: { ...input, events: [] } }, { token: admin.token }),
    ]);
    expect(refusals.map(errorCodes)).toEqual([['BAD_USER_INPUT'], ['BAD_USER_INPUT'], ['BAD_USER_INPUT']]);
    expect(refusals[1].errors![0].message).toMatch(/"message.sent" is not an event/);

    const endpoint = await register('/listed', ['message.created']);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const listed = await runOperation(app, 'WebhookEndpoints', { first: 50 }, { token: admin.token });
    const node = listed.data!.webhookEndpoints.edges.map((edge: { node: { id: string } }) => edge.node).find((n: { id: string }) => n.id === endpoint.id);
    expect(node).toMatchObject({ url: `${receiver.url}/listed`, events: ['message.created'], enabled: true });
    expect(JSON.stringify(listed)).not.toContain(endpoint.secret.slice(6));
    await runOperation(app, 'DeleteWebhookEndpoint', { id: endpoint.id }, { token: admin.token });
  });

  it('retries a failing receiver with the same webhook-id until it answers 200, each attempt signed; the payload names mentions and offline members', async () => {
    const endpoint = await register('/flaky', ['message.created']);
    const id = await openConversation(app, [ada, bob, carol]);
    // Carol is online (a socket open); Bob is not. Ada, who writes, is never in the list.
    const socket = connectWs(app.wsUrl, { token: carol.token });
    disposers.push(() => socket.dispose());
    socket.subscribe(operation('InboxUpdates'), {});
    await expectEventually(async () => {
      const [row] = await app.services.dataSource.query(`SELECT online FROM user_presence WHERE user_id = $1`, [carol.user.id]);
      expect(row?.online).toBe(true);
    });

    const message = await sendMessage(app, ada, id, `@${bob.user.handle} can you take this one?`);
    await expectEventually(() => expect(receiver.at('/flaky')).toHaveLength(3), { timeoutMs: 20_000 });
    const attempts = receiver.at('/flaky');
    expect(new Set(attempts.map((request) => request.headers['webhook-id'])).size).toBe(1);
    for (const request of attempts) {
      expect(() => new Webhook(endpoint.secret).verify(request.body, request.headers)).not.toThrow();
      expect(request.body).toBe(attempts[0].body);
    }
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(attempts[0].body, attempts[0].headers)).toThrow();

    const payload = parsed(attempts[0]);
    expect(payload).toMatchObject({
      type: 'message.created',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: {
        conversation: { id, kind: 'GROUP', status: 'OPEN' },
        message: { id: message.id, seq: message.seq, body: `@${bob.user.handle} can you take this one?`, author: { id: globalUserId(ada), handle: ada.user.handle } },
        mentions: [{ id: globalUserId(bob), handle: bob.user.handle, displayName: bob.user.displayName }],
        offlineMembers: [{ id: globalUserId(bob), handle: bob.user.handle, displayName: bob.user.displayName }],
      },
    });

    await expectEventually(async () => {
      const [delivery] = await deliveries(endpoint);
      expect(delivery).toMatchObject({ status: 'DELIVERED', attempts: 3, lastStatusCode: 200, webhookId: attempts[0].headers['webhook-id'], eventType: 'message.created' });
      expect(delivery.payload).toEqual(payload);
    });
    await runOperation(app, 'DisableWebhookEndpoint', { id: endpoint.id }, { token: admin.token });
  });

  it('delivers 200 messages of two conversations, each conversation in commit order, each once', async () => {
    const endpoint = await register('/ordered', ['message.created']);
    const first = await openConversation(app, [ada, bob]);
    const second = await openConversation(app, [bob, carol]);
    const sent = new Map<string, number[]>([[first, []], [second, []]]);
    // Ten at a time, from two authors per conversation: commits interleave.
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const [id, author] = i % 2 === 0 ? [first, i % 4 === 0 ? ada : bob] : [second, i % 4 === 1 ? bob : carol];
          return sendMessage(app, author, id, `round ${round} #${i}`).then((message) => ({ id, seq: message.seq }));
        }),
      );
      for (const { id, seq } of batch) sent.get(id)!.push(seq);
    }
    await expectEventually(() => expect(receiver.at('/ordered').length).toBeGreaterThanOrEqual(200), { timeoutMs: 60_000, intervalMs: 100 });
    expect(receiver.at('/ordered')).toHaveLength(200);
    for (const [id, seqs] of sent) {
      const arrived = receiver
        .at('/ordered')
        .map(parsed)
        .filter((payload) => payload.data.conversation.id === id)
        .map((payload) => payload.data.message.seq);
      expect(arrived).toEqual([...seqs].sort((a, b) => a - b));
    }
    await runOperation(app, 'DisableWebhookEndpoint', { id: endpoint.id }, { token: admin.token });
  });

  it('dead-letters a delivery after its attempts, shows it in webhookDeliveries and metrics, and redelivers it', async () => {
    const endpoint = await register('/down', ['message.created']);
    const id = await openConversation(app, [ada, bob]);
    await sendMessage(app, ada, id, 'will not arrive at first');
    const [dead] = await expectEventually(async () => {
      const found = await deliveries(endpoint, 'DEAD');
      expect(found).toHaveLength(1);
      return found;
    }, { timeoutMs: 20_000 });
    expect(dead).toMatchObject({ attempts: 3, lastStatusCode: 500, lastError: 'answered 500' });
    expect(receiver.at('/down')).toHaveLength(3);
    const metrics = await fetch(`${app.url.replace('/graphql', '')}/metrics`).then((response) => response.text());
    expect(metrics).toMatch(/parley_webhook_attempts_total\{outcome="dead"\} [1-9]/);
    expect(metrics).toMatch(/parley_webhook_deliveries\{status="dead"\} [1-9]/);

    receiver.downStatus = 204;
    const again = await runOperation(app, 'Redeliver', { deliveryId: dead.id }, { token: admin.token });
    expect(again.data!.redeliver).toMatchObject({ status: 'PENDING', attempts: 0 });
    await expectEventually(async () => expect((await deliveries(endpoint))[0]).toMatchObject({ status: 'DELIVERED', attempts: 1, lastStatusCode: 204 }));
    const attempts = receiver.at('/down');
    expect(attempts[attempts.length - 1].headers['webhook-id']).toBe(dead.webhookId);
    await runOperation(app, 'DisableWebhookEndpoint', { id: endpoint.id }, { token: admin.token });
  });

  it('keeps sending to one endpoint while another hangs, and sendMessage never waits for either', async () => {
    const hanging = await register('/hang', ['message.created']);
    const healthy = await register('/healthy', ['message.created']);
    const ids = await Promise.all([1, 2, 3].map(() => openConversation(app, [ada, bob])));
    // Twenty sends all answer while the hanging endpoint holds every attempt it was given.
    const sent = [];
    for (let i = 0; i < 20; i++) sent.push(await sendMessage(app, ada, ids[i % 3], `message ${i}`));
    await expectEventually(() => expect(receiver.at('/healthy')).toHaveLength(20), { timeoutMs: 20_000 });
    await expectEventually(() => expect(receiver.hangingCount()).toBeGreaterThan(0));
    // Its share of the dispatcher (a quarter of WEBHOOK_CONCURRENCY) and no more.
    expect(receiver.hangingCount()).toBeLessThanOrEqual(2);

    // Behind each lane's head, the rest wait QUEUED; a message deleted meanwhile leaves with no body.
    const hangingId = fromGlobalIdOf('WebhookEndpoint', hanging.id);
    const statuses = await app.services.dataSource.query(`SELECT status, count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY 1 ORDER BY 1`, [hangingId]);
    expect(statuses).toEqual([{ status: 'PENDING', n: 3 }, { status: 'QUEUED', n: 17 }]);
    await runOperation(app, 'DeleteMessage', { id: sent[19].id }, { token: ada.token });
    const [scrubbed] = await app.services.dataSource.query(
      `SELECT status, payload->'data'->'message'->'body' AS body FROM webhook_deliveries WHERE endpoint_id = $1 AND message_id = $2`,
      [hangingId, fromGlobalIdOf('Message', sent[19].id)],
    );
    expect(scrubbed).toEqual({ status: 'QUEUED', body: null });

    // An attempt whose lease another claim took over does not get to record itself.
    await app.services.dataSource.query(`UPDATE webhook_deliveries SET lease_token = gen_random_uuid() WHERE endpoint_id = $1 AND leased_until > now()`, [hangingId]);
    receiver.releaseHanging();
    await expectEventually(async () => {
      const rows = await app.services.dataSource.query(`SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $1 AND leased_until > now()`, [hangingId]);
      expect(receiver.hangingCount()).toBe(0);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((row: { status: string; attempts: number }) => row.status === 'PENDING' && row.attempts === 0)).toBe(true);
    });
    await runOperation(app, 'DisableWebhookEndpoint', { id: hanging.id }, { token: admin.token });
    await runOperation(app, 'DisableWebhookEndpoint', { id: healthy.id }, { token: admin.token });
  });

  it('sends message.edited, conversation.member_added and conversation.closed, and a rotated secret signs beside the old one', async () => {
    const endpoint = await register('/lifecycle', ['message.edited', 'conversation.member_added', 'conversation.closed']);
    const id = await openConversation(app, [ada, bob], 'SUPPORT');
    const message = await sendMessage(app, ada, id, 'first draft');
    const rotated = await runOperation(app, 'RotateWebhookSecret', { id: endpoint.id }, { token: admin.token });
    const newSecret: string = rotated.data!.rotateWebhookSecret.secret;
    expect(newSecret).not.toBe(endpoint.secret);

    await runOperation(app, 'EditMessage', { id: message.id, body: `final, cc @${bob.user.handle}` }, { token: ada.token });
    await runOperation(app, 'AddMember', { conversationId: id, userId: globalUserId(carol) }, { token: ada.token });
    await runOperation(app, 'CloseConversation', { id }, { token: ada.token });
    // The conversation's creation added Bob (and Ada) first: member_added too.
    await expectEventually(() => expect(receiver.at('/lifecycle').map((request) => parsed(request).type)).toContain('conversation.closed'), { timeoutMs: 20_000 });
    const requests = receiver.at('/lifecycle').slice(-3);
    expect(receiver.at('/lifecycle').map((request) => parsed(request).type)).toEqual([
      ...receiver.at('/lifecycle').slice(0, -3).map(() => 'conversation.member_added'),
      'message.edited',
      'conversation.member_added',
      'conversation.closed',
    ]);
    const [edited, added, closed] = requests.map(parsed);
    expect(edited.data.message).toMatchObject({ id: message.id, body: `final, cc @${bob.user.handle}`, editedAt: expect.any(String) });
    expect(edited.data.mentions).toEqual([expect.objectContaining({ handle: bob.user.handle })]);
    expect(added.data.member).toMatchObject({ id: globalUserId(carol), handle: carol.user.handle });
    expect(closed.data.conversation).toMatchObject({ id, status: 'CLOSED' });
    for (const request of requests) {
      expect(request.headers['webhook-signature'].split(' ')).toHaveLength(2);
      expect(() => new Webhook(newSecret).verify(request.body, request.headers)).not.toThrow();
      expect(() => new Webhook(endpoint.secret).verify(request.body, request.headers)).not.toThrow();
    }
  });

  it('reach the receiver the README shows, which verifies them and hands each on once', async () => {
    const events: ParleyWebhook[] = [];
    const gateway = express();
    const server = gateway.listen(0, '127.0.0.1');
    disposers.push(() => new Promise((resolve) => server.close(resolve)));
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/parley-webhooks`;
    const created = await runOperation(app, 'CreateWebhookEndpoint', { input: { url, events: ['message.created'] } }, { token: admin.token });
    const endpoint: Endpoint = { id: created.data!.createWebhookEndpoint.endpoint.id, secret: created.data!.createWebhookEndpoint.secret };
    disposers.push(() => runOperation(app, 'DeleteWebhookEndpoint', { id: endpoint.id }, { token: admin.token }));
    gateway.use(parleyWebhooks(endpoint.secret, async (event) => void events.push(event)));

    const id = await openConversation(app, [ada, bob]);
    await sendMessage(app, ada, id, 'for the gateway');
    await expectEventually(() => expect(events).toHaveLength(1), { timeoutMs: 20_000 });
    expect(events[0]).toMatchObject({ type: 'message.created', data: { message: { body: 'for the gateway' }, offlineMembers: [{ handle: bob.user.handle }] } });

    // Sent again (same webhook-id): acknowledged, not handled twice. Unsigned: 401.
    const [delivery] = await deliveries(endpoint);
    await runOperation(app, 'Redeliver', { deliveryId: delivery.id }, { token: admin.token });
    await expectEventually(async () => expect((await deliveries(endpoint))[0]).toMatchObject({ status: 'DELIVERED', attempts: 1, lastStatusCode: 204 }));
    expect(events).toHaveLength(1);
    const forged = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'msg_x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' }, body: '{}' });
    expect(forged.status).toBe(401);
    await runOperation(app, 'DisableWebhookEndpoint', { id: endpoint.id }, { token: admin.token });
  });

  it('writes nothing for a change that was refused, nor for a disabled endpoint', async () => {
    const endpoint = await register('/quiet', ['message.created']);
    const id = await openConversation(app, [ada, bob]);
    const closed = await openConversation(app, [ada, bob]);
    await runOperation(app, 'CloseConversation', { id: closed }, { token: ada.token });
    const refused = await runOperation(app, 'SendMessage', { input: { conversationId: closed, body: 'too late', clientMessageId: 'quiet-1' } }, { token: ada.token });
    expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
    await runOperation(app, 'DisableWebhookEndpoint', { id: endpoint.id }, { token: admin.token });
    await sendMessage(app, ada, id, 'nobody is listening');
    expect(await deliveries(endpoint)).toEqual([]);
  });
});

describe('outbound webhooks to private addresses', () => {
  let strict: TestApp;
  let strictAdmin: Member;
  beforeAll(async () => {
    strict = await startTestApp({ WEBHOOK_POLL_INTERVAL: '50ms', WEBHOOK_RETRY_DELAY: '50ms', WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_DISABLE_AFTER: '1ms' });
    strictAdmin = await createUser(strict);
    await strict.services.dataSource.query(`UPDATE users SET role = 'ADMIN' WHERE id = $1`, [strictAdmin.user.id]);
  });
  afterAll(() => strict.stop());

  it('refuses them when saved, and again at delivery (where DNS may now point)', async () => {
    const saved = await runOperation(strict, 'CreateWebhookEndpoint', { input: { url: `${receiver.url}/private`, events: ['message.created'] } }, { token: strictAdmin.token });
    expect(errorCodes(saved)).toEqual(['BAD_USER_INPUT']);
    expect(saved.errors![0].message).toMatch(/resolves to 127\.0\.0\.1, a private, loopback or link-local address/);
    expect(errorCodes(await runOperation(strict, 'CreateWebhookEndpoint', { input: { url: 'http://localhost:9/hook', events: ['message.created'] } }, { token: strictAdmin.token }))).toEqual(['BAD_USER_INPUT']);

    // As if a public name had been re-pointed at this host after it was saved.
    const [{ id: endpointId }] = await strict.services.dataSource.query(
      `INSERT INTO webhook_endpoints (url, events, secret) VALUES ($1, '{message.created}', 'whsec_${Buffer.alloc(32).toString('base64')}') RETURNING id`,
      [`${receiver.url}/private`],
    );
    const [one, two] = await Promise.all([createUser(strict), createUser(strict)]);
    const id = await openConversation(strict, [one, two]);
    await sendMessage(strict, one, id, 'must not leave');
    const [dead] = await expectEventually(async () => {
      const rows = await strict.services.dataSource.query(`SELECT status, attempts, last_error FROM webhook_deliveries WHERE endpoint_id = $1`, [endpointId]);
      expect(rows).toEqual([expect.objectContaining({ status: 'DEAD' })]);
      return rows;
    }, { timeoutMs: 20_000 });
    expect(dead).toMatchObject({ attempts: 2, last_error: expect.stringMatching(/^refused: host 127\.0\.0\.1 resolves to 127\.0\.0\.1/) });
    expect(receiver.at('/private')).toEqual([]);
    // Failing for longer than WEBHOOK_DISABLE_AFTER when a delivery died: disabled, saying why.
    const [endpoint] = await strict.services.dataSource.query(`SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1`, [endpointId]);
    expect(endpoint).toEqual({ enabled: false, disabled_reason: expect.stringMatching(/^Every attempt failed since .*; the last: refused: host 127\.0\.0\.1/) });
  });
});
