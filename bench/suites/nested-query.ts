import path from 'node:path';
import autocannon from 'autocannon';
import { Client } from 'pg';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createTokenService } from '../../src/security/jwt';
import type { Progress } from '../lib/progress';
import { BENCH_SECRET, freePort, ROOT, startParley, startProcess, type ServerProcess } from '../lib/server';

export const NESTED = `query ($n: Int!) { conversations(first: $n) { edges { node {
  lastMessage { author { handle } }
  unreadCount
  members(first: 5) { edges { node { handle } } }
  messages(last: 20) { edges { node { body author { handle } reactions { emoji count } } } }
} } } }`;

export interface LoadFigures {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
}

export interface NestedQueryResult {
  viewers: number;
  saturation: { parley: LoadFigures & { cpuMsPerRequest: number }; limit: LoadFigures & { cpuMsPerRequest: number } };
  fixedRate: { rate: number; parley: LoadFigures; limit: LoadFigures };
  /** SQL statements one request runs, for first: 2 and first: 10 (constant in page size). */
  statements: { first2: number; first10: number };
  /** Parley's req/s at saturation over the hand-written-SQL baseline's (target ≥ 0.5). */
  throughputRatio: number;
}

interface Target {
  url: string;
  server: ServerProcess;
  request(viewer: { id: string; token: string }): autocannon.Request;
  check(body: string): boolean;
}

/** Runs autocannon against `target`, failing the suite if any response is an error or the wrong shape. */
async function load(target: Target, viewers: { id: string; token: string }[], options: { duration: number; connections: number; overallRate?: number }): Promise<LoadFigures & { cpuMsPerRequest: number }> {
  let bad = 0;
  let firstBad = '';
  const cpuBefore = target.server.cpuSeconds();
  const result = await autocannon({
    url: target.url,
    duration: options.duration,
    connections: options.connections,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: viewers.map((viewer) => ({
      ...target.request(viewer),
      onResponse: (status: number, body: string) => {
        if (status !== 200 || !target.check(body)) {
          bad += 1;
          firstBad ||= `${status} ${body.slice(0, 300)}`;
        }
      },
    })),
  });
  const cpu = target.server.cpuSeconds() - cpuBefore;
  if (bad > 0 || result.errors > 0) throw new Error(`${bad} bad responses and ${result.errors} errors from ${target.url}; first: ${firstBad}`);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    cpuMsPerRequest: Math.round((cpu * 1000 * 1000) / Math.max(1, result.requests.total)) / 1000,
  };
}

/**
 * S1: the nested inbox query (conversations → lastMessage, members, messages(last: 20) → author,
 * reactions) on 10k users, 1k conversations and 1M messages: req/s at saturation, latency at a
 * fixed rate both can sustain, server CPU per request, and SQL statements per request — against a
 * bare node:http handler answering the same data with one hand-written SQL statement.
 */
export async function nestedQuery(env: { databaseUrl: string; schema: string; progress: Progress; seconds: number }): Promise<NestedQueryResult> {
  const db = new Client({ connectionString: env.databaseUrl, options: `-c search_path=${env.schema}` });
  await db.connect();
  const { rows } = await db.query(`SELECT user_id AS id FROM memberships GROUP BY user_id HAVING count(*) >= 10 ORDER BY count(*) DESC, user_id LIMIT 50`);
  await db.end();
  const tokens = createTokenService({ secret: BENCH_SECRET, ttlSeconds: 86_400 });
  const viewers = await Promise.all(rows.map(async ({ id }: { id: string }) => ({ id, token: await tokens.issue(id) })));
  if (viewers.length < 10) throw new Error('the seeded data has too few users in 10 conversations');
  const body = JSON.stringify({ query: NESTED, variables: { n: 10 } });
  const tenEdges = (text: string) => (text.match(/"lastMessage":/g) ?? []).length === 10 && !text.includes('"errors"');

  const parleyServer = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema });
  const port = await freePort();
  const limitServer = await startProcess(path.join(ROOT, 'dist/bench/baselines/sql-limit.js'), { DATABASE_URL: env.databaseUrl, DATABASE_SCHEMA: env.schema }, port);
  try {
    const parley: Target = {
      url: parleyServer.url,
      server: parleyServer,
      request: ({ token }) => ({ method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body }),
      check: tenEdges,
    };
    const limit: Target = {
      url: `http://127.0.0.1:${port}/`,
      server: limitServer,
      request: ({ id }) => ({ method: 'POST', headers: { 'x-viewer': id, 'x-first': '10' }, body: '' }),
      check: tenEdges,
    };
    // Warm both (JIT, PostgreSQL caches) before measuring.
    for (const target of [parley, limit]) await load(target, viewers, { duration: 3, connections: 8 });
    env.progress.step('S1: saturation, Parley');
    const parleySaturation = await load(parley, viewers, { duration: env.seconds, connections: 16 });
    env.progress.step('S1: saturation, hand-written SQL');
    const limitSaturation = await load(limit, viewers, { duration: env.seconds, connections: 16 });
    const rate = Math.max(10, Math.round(Math.min(parleySaturation.requestsPerSecond, limitSaturation.requestsPerSecond) / 2));
    env.progress.step(`S1: ${rate} req/s, Parley`);
    const parleyFixed = await load(parley, viewers, { duration: env.seconds, connections: 16, overallRate: rate });
    env.progress.step(`S1: ${rate} req/s, hand-written SQL`);
    const limitFixed = await load(limit, viewers, { duration: env.seconds, connections: 16, overallRate: rate });
    return {
      viewers: viewers.length,
      saturation: { parley: parleySaturation, limit: limitSaturation },
      fixedRate: { rate, parley: strip(parleyFixed), limit: strip(limitFixed) },
      statements: await countStatements(env, viewers[0].id),
      throughputRatio: Math.round((parleySaturation.requestsPerSecond / Math.max(1, limitSaturation.requestsPerSecond)) * 100) / 100,
    };
  } finally {
    await parleyServer.stop();
    await limitServer.stop();
  }
}

function strip({ requestsPerSecond, p50, p99, requests }: LoadFigures): LoadFigures {
  return { requestsPerSecond, p50, p99, requests };
}

/** Statements one request runs, counted in an app of this process (the server process is not instrumented). */
async function countStatements(env: { databaseUrl: string; schema: string }, viewerId: string): Promise<{ first2: number; first10: number }> {
  const statements: string[] = [];
  const config = loadConfig({
    NODE_ENV: 'production',
    PERSISTED_QUERIES: 'off',
    RATE_LIMITS: 'off',
    // An app of this process, on loopback: no one else can reach its /metrics.
    METRICS_PUBLIC: 'true',
    JOBS_ENABLED: 'false',
    DATABASE_URL: env.databaseUrl,
    DATABASE_SCHEMA: env.schema,
    JOBS_SCHEMA: `${env.schema}_jobs`,
    JWT_SECRET: BENCH_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
  const app = await createApp(config, { onQuery: (sql) => statements.push(sql) });
  try {
    await app.start();
    const token = await app.services.tokens.issue(viewerId);
    const count = async (n: number) => {
      statements.length = 0;
      const response = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: NESTED, variables: { n } }) });
      const text = await response.text();
      if (text.includes('"errors"')) throw new Error(text.slice(0, 300));
      return statements.length;
    };
    // Warm up first: the viewer's account check is cached for 10 s, so only a cold first request runs it.
    await count(10);
    return { first2: await count(2), first10: await count(10) };
  } finally {
    await app.stop();
  }
}
