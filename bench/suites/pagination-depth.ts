import { performance } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createCursorCodec } from '../../src/pagination/cursor';
import { createTokenService } from '../../src/security/jwt';
import { seed } from '../../scripts/seed';
import type { Progress } from '../lib/progress';
import { BENCH_SECRET, startParley } from '../lib/server';
import { ratio, summarize, type LatencySummary } from '../stats';

export interface PaginationDepthResult {
  messages: number;
  depths: { depth: number; latency: LatencySummary; plan: string; indexScan: boolean }[];
  /** p50 and p99 at the deepest page over the shallowest (target ≤ 1.5). */
  ratioP50: number;
  ratioP99: number;
}

const PAGE = `query ($id: ID!, $after: String) { conversation(id: $id) { messages(first: 20, after: $after) { edges { node { id seq body } } pageInfo { hasNextPage } } } }`;

function benchConfig(databaseUrl: string, schema: string) {
  return loadConfig({
    NODE_ENV: 'production',
    PERSISTED_QUERIES: 'off',
    RATE_LIMITS: 'off',
    // An app of this process, on loopback: no one else can reach its /metrics.
    METRICS_PUBLIC: 'true',
    JOBS_ENABLED: 'false',
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    JOBS_SCHEMA: `${schema}_jobs`,
    JWT_SECRET: BENCH_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
}

/**
 * S2: the latency of a 20-message page at depth 0, 1k and 100k of one conversation of 110k
 * messages, from the server process, reported as a ratio; keyset pagination should make depth
 * (almost) free. Also records the plan PostgreSQL chose for the page statement at each depth.
 */
export async function paginationDepth(env: { databaseUrl: string; schema: string; rounds: number; progress: Progress }): Promise<PaginationDepthResult> {
  const messages = 110_000;
  const depths = [0, 1_000, 100_000];
  const statements: { sql: string; parameters: unknown[] }[] = [];
  // An app of this process seeds the data and later shows which statement a page runs (to EXPLAIN it).
  const local = await createApp(benchConfig(env.databaseUrl, env.schema), { onQuery: (sql, parameters) => statements.push({ sql, parameters: parameters ?? [] }) });
  await local.start();
  const { dataSource } = local.services;
  env.progress.note(`S2: seeding one conversation with ${messages.toLocaleString('en')} messages`);
  const { conversationIds } = await seed(dataSource as DataSource, { users: 20, conversations: 1, messages, seed: 2 });
  const [conversation] = await dataSource.query(
    `SELECT c.id, c.created_by_id AS member, (SELECT count(*)::int FROM memberships WHERE conversation_id = c.id) AS members FROM conversations c WHERE c.id = $1`,
    conversationIds,
  );
  const token = await createTokenService({ secret: BENCH_SECRET, ttlSeconds: 86_400 }).issue(conversation.member);
  const cursors = createCursorCodec(BENCH_SECRET);
  const id = Buffer.from(`Conversation:${conversation.id}`).toString('base64url');
  const after = (depth: number) => (depth === 0 ? null : cursors.encode(`messages:${conversation.id}`, [conversation.members + depth]));
  const server = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema });
  try {
    const request = async (url: string, depth: number) => {
      const started = performance.now();
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: PAGE, variables: { id, after: after(depth) } }),
      });
      const body = (await response.json()) as { data?: { conversation: { messages: { edges: { node: { seq: number } }[] } } }; errors?: unknown };
      const elapsed = performance.now() - started;
      const edges = body.data?.conversation.messages.edges ?? [];
      if (body.errors || edges.length !== 20 || edges[0].node.seq !== conversation.members + depth + 1) {
        throw new Error(`unexpected page at depth ${depth}: ${JSON.stringify(body).slice(0, 300)}`);
      }
      return elapsed;
    };

    for (let i = 0; i < 30; i++) for (const depth of depths) await request(server.url, depth);
    env.progress.step('S2: pages at depth 0, 1k and 100k');
    const samples = new Map(depths.map((d) => [d, [] as number[]]));
    // Interleaved, so drift in machine load hits every depth alike.
    for (let i = 0; i < env.rounds; i++) for (const depth of depths) samples.get(depth)!.push(await request(server.url, depth));

    const results = [];
    for (const depth of depths) {
      statements.length = 0;
      await request(local.url, depth);
      const page = statements.find((s) => s.sql.includes('LATERAL') && s.sql.includes('FROM messages m'));
      if (!page) throw new Error('the messages page statement was not seen');
      const plan = (await dataSource.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${page.sql}`, page.parameters))
        .map((row: Record<string, string>) => row['QUERY PLAN'])
        .join('\n');
      const indexScan = /Index (Only )?Scan.* on messages /.test(plan) && !/Seq Scan on messages/.test(plan);
      results.push({ depth, latency: summarize(samples.get(depth)!), plan, indexScan });
    }
    const shallow = results[0].latency;
    const deep = results.at(-1)!.latency;
    return { messages, depths: results, ratioP50: ratio(deep.p50, shallow.p50), ratioP99: ratio(deep.p99, shallow.p99) };
  } finally {
    await server.stop();
    await local.stop();
  }
}
