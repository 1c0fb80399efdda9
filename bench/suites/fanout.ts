import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createTokenService } from '../../src/security/jwt';
import { SEND } from '../lib/send-load';
import { Fleet, settle, type FleetStats } from '../lib/fleet';
import { latencyHistogram, percentilesOf, type Percentiles } from '../lib/histogram';
import { BENCH_SECRET, freePort, ROOT, startParley, startProcess, type ServerProcess } from '../lib/server';
import type { Progress } from '../lib/progress';

export const SUBSCRIPTION = `subscription ($id: ID!, $after: Int) { conversationEvents(conversationId: $id, afterSeq: $after) { seq ... on MessageAdded { message { id body } } } }`;

export interface FanoutPhase {
  subscribers: number;
  rate: number;
  messages: number;
  expected: number;
  delivered: number;
  /** delivered / expected */
  deliveredRatio: number;
  /** From the publisher's send to a subscriber's receipt, ms. */
  latency: FleetStats;
  /** The server's event-loop delay p99 during the phase, ms. */
  loopDelayP99Ms: number;
  /** The server's CPU per delivered message (the publishes included: a handful against thousands of deliveries), µs. */
  cpuUsPerDelivery: number;
  /** sendMessage round trips (Parley only), ms, from the first attempt. */
  publish?: Percentiles;
  /** Attempts refused with SERVICE_UNAVAILABLE and retried (Parley only). */
  refusedSends?: number;
}

export interface FanoutResult {
  parley: FanoutPhase[];
  raw: FanoutPhase[];
  /** p99 ratio Parley / raw ws, per subscriber count and rate. */
  ratios: { subscribers: number; rate: number; p99: number }[];
  memory: {
    sockets: number;
    parley: { heapPerSocket: number; rssPerSocket: number };
    raw: { heapPerSocket: number; rssPerSocket: number };
    heapRatio: number;
    /** A signed-in socket with no subscription: what WS_MAX_CONNECTIONS_PER_USER lets one account hold. */
    parleyIdle?: { heapPerSocket: number; rssPerSocket: number };
  };
}

export interface FanoutOptions {
  databaseUrl: string;
  schema: string;
  counts: number[];
  rates: number[];
  seconds: number;
  progress: Progress;
}

export interface PreparedConversation {
  /** Global id. */
  id: string;
  rawId: string;
  /** Token of the member who sends. */
  publisher: string;
  /** Tokens of the members who subscribe. */
  subscribers: string[];
}

let prepared = 0;

/**
 * `count` GROUP conversations, each with one publisher and `members` subscriber accounts, written
 * straight to the tables, with tokens for all of them.
 */
export async function prepareConversations(databaseUrl: string, schema: string, count: number, members: number): Promise<{ conversations: PreparedConversation[] }> {
  const db = new Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await db.connect();
  const tokens = createTokenService({ secret: BENCH_SECRET, ttlSeconds: 86_400 });
  try {
    const conversations: PreparedConversation[] = [];
    for (let c = 0; c < count; c++) {
      const prefix = `b${Date.now().toString(36)}${(prepared += 1)}_`;
      const { rows: users } = await db.query(
        `INSERT INTO users (handle, display_name, email, password_hash)
         SELECT $2 || n, 'Bench ' || n, $2 || n || '@example.com', 'x' FROM generate_series(0, $1::int) AS n RETURNING id`,
        [members, prefix],
      );
      const { rows: [conversation] } = await db.query(`INSERT INTO conversations (kind, title, created_by_id) VALUES ('GROUP', 'bench', $1) RETURNING id`, [users[0].id]);
      await db.query(
        `INSERT INTO memberships (conversation_id, user_id, role, joined_at)
         SELECT $1, u, CASE WHEN ord = 1 THEN 'OWNER' ELSE 'MEMBER' END, now() + ord * interval '1 ms' FROM unnest($2::uuid[]) WITH ORDINALITY AS m(u, ord)`,
        [conversation.id, users.map((u: { id: string }) => u.id)],
      );
      conversations.push({
        id: Buffer.from(`Conversation:${conversation.id}`).toString('base64url'),
        rawId: conversation.id,
        publisher: await tokens.issue(users[0].id),
        subscribers: await Promise.all(users.slice(1).map((u: { id: string }) => tokens.issue(u.id))),
      });
    }
    return { conversations };
  } finally {
    await db.end();
  }
}

/**
 * Connects `perConversation` subscribers of each of `conversations` (their members' tokens), each
 * subscribed to its conversation's events from the start (afterSeq 0), through `url` (ws://…).
 */
export async function subscribeMembers(fleet: Fleet, url: string, conversations: PreparedConversation[], perConversation: number): Promise<void> {
  for (const conversation of conversations) {
    const { failed } = await fleet.connect({ url, count: perConversation, mode: 'graphql', tokens: conversation.subscribers, query: SUBSCRIPTION, variables: { id: conversation.id, after: 0 } });
    if (failed > 0) throw new Error(`${failed} subscribers could not connect to ${url}`);
  }
}

async function headSeq(databaseUrl: string, schema: string, conversationId: string): Promise<number> {
  const db = new Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await db.connect();
  try {
    return (await db.query(`SELECT last_seq FROM conversations WHERE id = $1`, [conversationId])).rows[0].last_seq;
  } finally {
    await db.end();
  }
}

/** Publishes `count` stamped messages at `rate` per second; resolves when every send was answered. */
async function publishAt(rate: number, count: number, send: (text: string) => Promise<void>): Promise<void> {
  const sends: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sends.push(send(`t:${Date.now()}`));
  }
  await Promise.all(sends);
}

/** Lowest heap and RSS over a few samples, each after a full GC: live objects, not garbage. */
async function steadyMemory(target: Pick<Target, 'memory' | 'collectGarbage'>) {
  let best = { heap: Infinity, rss: Infinity };
  for (let i = 0; i < 4; i++) {
    target.collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const sample = await target.memory();
    best = { heap: Math.min(best.heap, sample.heap), rss: Math.min(best.rss, sample.rss) };
  }
  return best;
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

interface Target {
  fleet: Fleet;
  connect(count: number): Promise<void>;
  send(text: string): Promise<void>;
  /** Sends refused so far (overload), each retried. */
  refused?(): number;
  loopDelayP99Ms(): Promise<number>;
  /** CPU the server process has used so far, seconds. */
  cpuSeconds(): number;
  memory(): Promise<{ heap: number; rss: number }>;
  collectGarbage(): void;
  stop(): Promise<void>;
}

async function runPhases(target: Target, options: FanoutOptions, label: string, withPublishLatency: boolean) {
  const phases: FanoutPhase[] = [];
  let connected = 0;
  let memoryBefore = { heap: 0, rss: 0 };
  let memoryAfter = { heap: 0, rss: 0 };
  for (const count of options.counts) {
    if (connected === 0) memoryBefore = await steadyMemory(target);
    await target.connect(count - connected);
    connected = count;
    // Warm up: a message everyone receives proves every subscription is live.
    await target.fleet.reset();
    await target.send(`t:${Date.now()}`);
    const warm = await settle(target.fleet, connected, 60_000);
    if (warm.received < connected) throw new Error(`${label}: only ${warm.received} of ${connected} subscribers received the warm-up message`);
    if (count === options.counts.at(-1)) memoryAfter = await steadyMemory(target);
    for (const rate of options.rates) {
      options.progress.step(`${label}: ${count.toLocaleString('en')} subscribers, ${rate} msg/s`);
      const messages = rate * options.seconds;
      await target.fleet.reset();
      await target.loopDelayP99Ms();
      const publish = latencyHistogram();
      const refusedBefore = target.refused?.() ?? 0;
      const cpuBefore = target.cpuSeconds();
      await publishAt(rate, messages, async (text) => {
        const started = performance.now();
        await target.send(text);
        publish.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
      });
      const expected = messages * connected;
      const latency = await settle(target.fleet, expected, 30_000);
      const cpuSeconds = target.cpuSeconds() - cpuBefore;
      phases.push({
        subscribers: count,
        rate,
        messages,
        expected,
        delivered: latency.received,
        deliveredRatio: Math.round((latency.received / expected) * 10_000) / 10_000,
        latency,
        loopDelayP99Ms: Math.round((await target.loopDelayP99Ms()) * 100) / 100,
        cpuUsPerDelivery: Math.round((cpuSeconds * 1e7) / Math.max(1, latency.received)) / 10,
        ...(withPublishLatency ? { publish: percentilesOf(publish), refusedSends: (target.refused?.() ?? 0) - refusedBefore } : {}),
      });
    }
  }
  const last = options.counts.at(-1)!;
  return {
    phases,
    memory: { heapPerSocket: Math.round((memoryAfter.heap - memoryBefore.heap) / last), rssPerSocket: Math.round((memoryAfter.rss - memoryBefore.rss) / last) },
  };
}

/**
 * S3 fan-out and S4 idle memory: one publisher, 1k / 5k / 10k graphql-ws subscribers of one
 * conversation, at 1 and 5 messages per second; then the same against a bare `ws` server that
 * broadcasts a pre-serialised frame. Subscribers live in a separate load-generator process.
 */
export async function fanout(options: FanoutOptions): Promise<FanoutResult> {
  const [setup] = (await prepareConversations(options.databaseUrl, options.schema, 1, 100)).conversations;
  let server: ServerProcess | undefined = await startParley({ databaseUrl: options.databaseUrl, schema: options.schema });
  const parleyFleet = new Fleet();
  let parley: Awaited<ReturnType<typeof runPhases>>;
  let refusedSends = 0;
  try {
    const target: Target = {
      fleet: parleyFleet,
      refused: () => refusedSends,
      async connect(count) {
        const after = await headSeq(options.databaseUrl, options.schema, setup.rawId);
        const { failed } = await parleyFleet.connect({
          url: server!.url.replace(/^http/, 'ws'),
          count,
          mode: 'graphql',
          tokens: setup.subscribers,
          query: SUBSCRIPTION,
          variables: { id: setup.id, after },
        });
        if (failed > 0) throw new Error(`${failed} subscribers could not connect to Parley`);
      },
      async send(text) {
        // As a client does: a send refused under overload (SERVICE_UNAVAILABLE) is retried with the same
        // clientMessageId, so it is stored once; its latency counts from the first attempt.
        const input = { conversationId: setup.id, body: text, clientMessageId: randomUUID() };
        for (let attempt = 0; ; attempt++) {
          const response = await fetch(server!.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${setup.publisher}` },
            body: JSON.stringify({ query: SEND, variables: { input } }),
          });
          const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
          if (!body.errors) return;
          if (body.errors[0]?.extensions?.code !== 'SERVICE_UNAVAILABLE' || attempt >= 600) throw new Error(`sendMessage failed: ${JSON.stringify(body.errors)}`);
          refusedSends += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      loopDelayP99Ms: async () => metric(await server!.scrape(), 'nodejs_eventloop_lag_p99_seconds') * 1000,
      cpuSeconds: () => server!.cpuSeconds(),
      memory: async () => {
        const text = await server!.scrape();
        return { heap: metric(text, 'nodejs_heap_size_used_bytes'), rss: metric(text, 'process_resident_memory_bytes') };
      },
      collectGarbage: () => server!.collectGarbage(),
      stop: async () => undefined,
    };
    parley = await runPhases(target, options, 'Parley', true);
  } finally {
    await parleyFleet.close();
    await server?.stop();
    server = undefined;
  }
  const parleyIdle = await idleSignedInMemory(options, setup.subscribers);

  const port = await freePort();
  const baseline = await startProcess(path.join(ROOT, 'dist/bench/baselines/ws-broadcast.js'), {}, port);
  const rawFleet = new Fleet();
  let raw: Awaited<ReturnType<typeof runPhases>>;
  try {
    const base = `http://127.0.0.1:${port}`;
    raw = await runPhases(
      {
        fleet: rawFleet,
        async connect(count) {
          const { failed } = await rawFleet.connect({ url: `ws://127.0.0.1:${port}`, count, mode: 'raw' });
          if (failed > 0) throw new Error(`${failed} sockets could not connect to the baseline`);
        },
        async send(text) {
          await (await fetch(`${base}/broadcast`, { method: 'POST', body: JSON.stringify({ text }) })).text();
        },
        loopDelayP99Ms: async () => ((await (await fetch(`${base}/loop`)).json()) as { p99: number }).p99 * 1000,
        cpuSeconds: () => baseline.cpuSeconds(),
        memory: async () => {
          const usage = (await (await fetch(`${base}/memory`)).json()) as { heapUsed: number; rss: number };
          return { heap: usage.heapUsed, rss: usage.rss };
        },
        collectGarbage: () => baseline.collectGarbage(),
        stop: async () => undefined,
      },
      options,
      'raw ws',
      false,
    );
  } finally {
    await rawFleet.close();
    await baseline.stop();
  }

  const ratios = parley.phases.map((p) => {
    const r = raw.phases.find((b) => b.subscribers === p.subscribers && b.rate === p.rate)!;
    return { subscribers: p.subscribers, rate: p.rate, p99: Math.round((p.latency.p99 / Math.max(1, r.latency.p99)) * 100) / 100 };
  });
  return {
    parley: parley.phases,
    raw: raw.phases,
    ratios,
    memory: {
      sockets: options.counts.at(-1)!,
      parley: parley.memory,
      raw: raw.memory,
      heapRatio: Math.round((parley.memory.heapPerSocket / Math.max(1, raw.memory.heapPerSocket)) * 100) / 100,
      parleyIdle,
    },
  };
}

/** Heap and RSS per socket that signed in and subscribed to nothing, on a fresh Parley process. */
async function idleSignedInMemory(options: FanoutOptions, tokens: string[]): Promise<{ heapPerSocket: number; rssPerSocket: number }> {
  const server = await startParley({ databaseUrl: options.databaseUrl, schema: options.schema });
  const fleet = new Fleet();
  try {
    const count = options.counts.at(-1)!;
    options.progress.step(`Parley: ${count.toLocaleString('en')} signed-in sockets without subscriptions`);
    const target = {
      memory: async () => {
        const text = await server.scrape();
        return { heap: metric(text, 'nodejs_heap_size_used_bytes'), rss: metric(text, 'process_resident_memory_bytes') };
      },
      collectGarbage: () => server.collectGarbage(),
    };
    const before = await steadyMemory(target);
    const { failed } = await fleet.connect({ url: server.url.replace(/^http/, 'ws'), count, mode: 'graphql', tokens, subscribe: false });
    if (failed > 0) throw new Error(`${failed} signed-in sockets could not connect to Parley`);
    const after = await steadyMemory(target);
    return { heapPerSocket: Math.round((after.heap - before.heap) / count), rssPerSocket: Math.round((after.rss - before.rss) / count) };
  } finally {
    await fleet.close();
    await server.stop();
  }
}
