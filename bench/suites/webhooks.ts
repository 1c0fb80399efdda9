import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { signInbound } from '../../src/webhooks/inbound';
import type { Progress } from '../lib/progress';
import { SEND } from '../lib/send-load';
import { startParley } from '../lib/server';
import { ratio } from '../stats';
import { prepareConversations } from './fanout';

export interface WebhooksResult {
  webhooks: number;
  conversations: number;
  concurrency: number;
  /** Webhooks answered 202 per second by Parley. */
  acceptedPerSecond: number;
  /** The same requests against a bare node:http handler that checks the signature and answers 202. */
  baselineAcceptedPerSecond: number;
  /** Messages stored (and published) per second by the inbound-webhook job, from the first request to the last message. */
  processedPerSecond: number;
  /** The same number of messages sent through the sendMessage mutation, at the same concurrency. */
  baselineProcessedPerSecond: number;
  acceptedRatio: number;
  processedRatio: number;
}

const SECRET = 'benchmark-webhook-secret';

/** Runs `count` calls of `call` with `concurrency` in flight; returns elapsed seconds. */
async function concurrently(count: number, concurrency: number, call: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await call(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

async function post(url: string, body: string): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-parley-signature': signInbound(SECRET, body) }, body });
  if (response.status !== 202) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

/**
 * S7: inbound webhook ingestion. Accepted/s against a bare HTTP handler doing the same signature
 * check; processed/s (webhook to stored, published message) against sending the same messages
 * through the sendMessage mutation.
 */
export async function webhooks(env: { databaseUrl: string; schema: string; count: number; progress: Progress }): Promise<WebhooksResult> {
  const conversationCount = 20;
  const concurrency = 32;
  const { conversations } = await prepareConversations(env.databaseUrl, env.schema, conversationCount, 1);
  const db = new Client({ connectionString: env.databaseUrl, options: `-c search_path=${env.schema}` });
  await db.connect();
  await db.query(`UPDATE conversations SET kind = 'SUPPORT' WHERE id = ANY($1::uuid[])`, [conversations.map((c) => c.rawId)]);
  // The publisher of each conversation is its customer, posting through the gateway.
  const handles: { handle: string; id: string }[] = (
    await db.query(`SELECT u.handle, u.id FROM users u JOIN conversations c ON c.created_by_id = u.id WHERE c.id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], c.id)`, [conversations.map((c) => c.rawId)])
  ).rows;
  const messageCount = async () => Number((await db.query(`SELECT count(*)::int AS n FROM messages WHERE author_id = ANY($1::uuid[])`, [handles.map((h) => h.id)])).rows[0].n);

  const server = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema, extra: { INBOUND_WEBHOOK_SECRET: SECRET } });
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
    await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', resolve));
    const bodies = Array.from({ length: env.count }, (_, i) =>
      JSON.stringify({
        externalEventId: `bench-${randomUUID()}`,
        conversationId: conversations[i % conversationCount].id,
        authorHandle: handles[i % conversationCount].handle,
        body: `inbound message ${i}`,
        sentAt: new Date().toISOString(),
      }),
    );
    env.progress.step('S7: bare handler');
    const baselineSeconds = await concurrently(env.count, concurrency, (i) => post(`http://127.0.0.1:${(baseline.address() as AddressInfo).port}/`, bodies[i]));
    env.progress.step('S7: webhooks through Parley');
    const before = await messageCount();
    const started = performance.now();
    const acceptSeconds = await concurrently(env.count, concurrency, (i) => post(server.url.replace(/\/graphql$/, '/webhooks/inbound'), bodies[i]));
    while ((await messageCount()) < before + env.count) {
      if (performance.now() - started > 300_000) throw new Error('webhooks were not processed within 5 minutes');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const processSeconds = (performance.now() - started) / 1000;
    env.progress.step('S7: sendMessage directly');
    const directSeconds = await concurrently(env.count, concurrency, async (i) => {
      const conversation = conversations[i % conversationCount];
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${conversation.publisher}` },
        body: JSON.stringify({ query: SEND, variables: { input: { conversationId: conversation.id, body: `direct ${i}`, clientMessageId: randomUUID() } } }),
      });
      if ((await response.text()).includes('"errors"')) throw new Error('sendMessage failed');
    });
    const perSecond = (seconds: number) => Math.round(env.count / seconds);
    const result = {
      webhooks: env.count,
      conversations: conversationCount,
      concurrency,
      acceptedPerSecond: perSecond(acceptSeconds),
      baselineAcceptedPerSecond: perSecond(baselineSeconds),
      processedPerSecond: perSecond(processSeconds),
      baselineProcessedPerSecond: perSecond(directSeconds),
    };
    return { ...result, acceptedRatio: ratio(result.acceptedPerSecond, result.baselineAcceptedPerSecond), processedRatio: ratio(result.processedPerSecond, result.baselineProcessedPerSecond) };
  } finally {
    baseline.close();
    await server.stop();
    await db.end();
  }
}
