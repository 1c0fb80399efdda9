import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { sendMessage } from '../../src/services/messages';
import { signInbound } from '../../src/webhooks/inbound';
import { ratio } from '../stats';

export interface WebhooksResult {
  webhooks: number;
  conversations: number;
  concurrency: number;
  /** Webhooks answered 202 per second by Parley. */
  acceptedPerSecond: number;
  /** The same requests against a bare node:http handler that checks the signature and answers 202. */
  baselineAcceptedPerSecond: number;
  /** Messages created per second by the inbound-webhook job, from the first request to the last message. */
  processedPerSecond: number;
  /** The same messages posted by calling sendMessage directly, without HTTP or the queue. */
  baselineProcessedPerSecond: number;
  acceptedRatio: number;
  processedRatio: number;
}

const SECRET = 'benchmark-webhook-secret';

/** Sends `bodies` with `concurrency` requests in flight; returns elapsed seconds. */
async function post(url: string, bodies: string[], concurrency: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, body) }, body });
        if (response.status !== 202) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/**
 * S7: inbound webhook ingestion. Accepted/s against a bare HTTP handler doing the same signature
 * check; processed/s (webhook to stored, published message) against calling the message service
 * directly for the same number of messages.
 */
export async function webhooks(env: { databaseUrl: string; schema: string; count: number }): Promise<WebhooksResult> {
  const conversations = 20;
  const concurrency = 32;
  const config = loadConfig({
    NODE_ENV: 'production',
    PERSISTED_QUERIES: 'off',
    RATE_LIMITS: 'off',
    DATABASE_URL: env.databaseUrl,
    DATABASE_SCHEMA: env.schema,
    JOBS_SCHEMA: `${env.schema}_jobs`,
    JWT_SECRET: 'benchmark-secret-benchmark-secret!',
    INBOUND_WEBHOOK_SECRET: SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
  const app = await createApp(config);
  const baseline = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const ok = req.headers['x-parley-signature'] === signInbound(SECRET, raw);
      JSON.parse(raw.toString('utf8'));
      res.writeHead(ok ? 202 : 401, { 'content-type': 'application/json' }).end('{"accepted":true}');
    });
  });
  try {
    await app.start();
    await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));
    const { dataSource } = app.services;
    const [agent] = await dataSource.query(`INSERT INTO users (handle, display_name, email, password_hash) VALUES ('agent', 'Agent', 'agent@example.com', 'x') RETURNING id`);
    const [customer] = await dataSource.query(`INSERT INTO users (handle, display_name, email, password_hash) VALUES ('customer', 'Customer', 'customer@example.com', 'x') RETURNING id`);
    const ids: string[] = [];
    for (let i = 0; i < conversations; i++) {
      const [{ id }] = await dataSource.query(`INSERT INTO conversations (kind, title, created_by_id) VALUES ('SUPPORT', $1, $2) RETURNING id`, [`support ${i}`, agent.id]);
      await dataSource.query(`INSERT INTO memberships (conversation_id, user_id, role) VALUES ($1, $2, 'OWNER'), ($1, $3, 'MEMBER')`, [id, agent.id, customer.id]);
      ids.push(id);
    }
    const bodies = Array.from({ length: env.count }, (_, i) =>
      JSON.stringify({
        externalEventId: `bench-${randomUUID()}`,
        conversationId: Buffer.from(`Conversation:${ids[i % conversations]}`).toString('base64url'),
        authorHandle: 'customer',
        body: `inbound message ${i}`,
        sentAt: new Date().toISOString(),
      }),
    );

    const baselineSeconds = await post(`http://127.0.0.1:${(baseline.address() as AddressInfo).port}/`, bodies, concurrency);
    const started = performance.now();
    const acceptSeconds = await post(app.url.replace(/\/graphql$/, '/webhooks/inbound'), bodies, concurrency);
    for (;;) {
      const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM messages WHERE author_id = $1`, [customer.id]);
      if (n >= env.count) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const processSeconds = (performance.now() - started) / 1000;

    const direct = performance.now();
    const deps = { dataSource, bus: app.services.bus, logger: app.services.logger };
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < env.count) {
          const i = next++;
          await sendMessage(deps, customer.id, { conversationId: ids[i % conversations], body: `direct ${i}`, clientMessageId: randomUUID() }, 4000);
        }
      }),
    );
    const directSeconds = (performance.now() - direct) / 1000;

    const perSecond = (seconds: number) => Math.round(env.count / seconds);
    const result = {
      webhooks: env.count,
      conversations,
      concurrency,
      acceptedPerSecond: perSecond(acceptSeconds),
      baselineAcceptedPerSecond: perSecond(baselineSeconds),
      processedPerSecond: perSecond(processSeconds),
      baselineProcessedPerSecond: perSecond(directSeconds),
      acceptedRatio: 0,
      processedRatio: 0,
    };
    result.acceptedRatio = ratio(result.acceptedPerSecond, result.baselineAcceptedPerSecond);
    result.processedRatio = ratio(result.processedPerSecond, result.baselineProcessedPerSecond);
    return result;
  } finally {
    baseline.close();
    await app.stop();
  }
}
