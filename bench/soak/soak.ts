import 'reflect-metadata';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { freshSchema } from '../lib/schema';
import { ROOT, startParley, type ServerProcess } from '../lib/server';
import { prepareConversations } from '../suites/fanout';
import type { Assignment } from './soak-worker';

/**
 * `npm run soak -- --minutes N`: steady mixed load on two instances (PostgreSQL + Redis) — messages,
 * reactions, read markers, typing, inbox and history queries, 2,000 checked subscribers, a share of
 * them reconnecting every few seconds — sampling each instance's heap after a full GC, its RSS and
 * its open file descriptors. At the end every subscriber must hold every stored event of its
 * conversation exactly once and in order (compared with the log's head), and heap and descriptors
 * must have stayed within bounds.
 */

export interface SoakOptions {
  databaseUrl: string;
  redisUrl: string;
  minutes: number;
  subscribers?: number;
  /** sendMessage per second across the cluster. */
  messagesPerSecond?: number;
  log?: (line: string) => void;
}

export interface SoakSample {
  second: number;
  heapMB: number[];
  rssMB: number[];
  fds: number[];
}

export interface SoakResult {
  at: string;
  minutes: number;
  subscribers: number;
  conversations: number;
  sent: number;
  otherMutations: number;
  queries: number;
  failedRequests: number;
  /** Failed requests by error code. */
  failures: Record<string, number>;
  eventsReceived: number;
  gaps: number;
  duplicates: number;
  /** Stored events a subscriber never got (its last seq behind the log's head at the end). */
  lost: number;
  resyncs: number;
  reconnects: number;
  samples: SoakSample[];
  /** Per instance: heap after GC at the last sample minus the first after warm-up, MB. */
  heapGrowthMB: number[];
  fdGrowth: number[];
  heapBounded: boolean;
  fdsBounded: boolean;
}

const SUBSCRIPTION = `subscription ($id: ID!, $after: Int) {
  conversationEvents(conversationId: $id, afterSeq: $after) { __typename seq ... on MessageAdded { message { id body author { handle } } } }
}`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }`;
const REACT = `mutation ($id: ID!, $emoji: String!) { addReaction(messageId: $id, emoji: $emoji) { id } }`;
const READ = `mutation ($id: ID!, $seq: Int!) { markRead(conversationId: $id, seq: $seq) { id unreadCount } }`;
const TYPING = `mutation ($id: ID!) { setTyping(conversationId: $id, typing: true) }`;
const INBOX = `{ conversations(first: 10) { edges { node { id unreadCount lastMessage { body author { handle } } members(first: 5) { edges { node { handle } } } } } } }`;
const HISTORY = `query ($id: ID!) { conversation(id: $id) { messages(last: 20) { edges { node { body author { handle } reactions { emoji count } } } } } }`;

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

class Worker {
  private readonly child = fork(path.join(ROOT, 'dist/bench/soak/soak-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  private pending: { resolve: (reply: unknown) => void; reject: (error: Error) => void }[] = [];
  private exited: Error | undefined;
  constructor() {
    this.child.on('message', (reply) => this.pending.shift()?.resolve(reply));
    this.child.on('exit', (code) => {
      this.exited = new Error(`the soak worker exited with ${code}`);
      for (const waiter of this.pending.splice(0)) waiter.reject(this.exited);
    });
  }
  ask<T>(command: object): Promise<T> {
    if (this.exited) return (command as { cmd?: string }).cmd === 'close' ? Promise.resolve(undefined as T) : Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve: resolve as (reply: unknown) => void, reject });
      this.child.send(command);
    });
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const subscriberCount = options.subscribers ?? 2_000;
  const perConversation = 20;
  const conversationCount = Math.ceil(subscriberCount / perConversation);
  const rate = options.messagesPerSecond ?? 40;
  const schema = `soak_${Date.now()}`;
  const admin = new Client({ connectionString: options.databaseUrl });
  await admin.connect();
  const servers: ServerProcess[] = [];
  const worker = new Worker();
  try {
    await freshSchema(options.databaseUrl, schema);
    const { conversations } = await prepareConversations(options.databaseUrl, schema, conversationCount, perConversation);
    const env = { databaseUrl: options.databaseUrl, schema, redisUrl: options.redisUrl, redisPrefix: `soak:${schema}:`, extra: { WS_MAX_SUBSCRIPTIONS: '50', JOBS_ENABLED: 'true' } };
    servers.push(await startParley(env), await startParley(env));
    const assignments: Assignment[] = conversations.flatMap((c, ci) =>
      c.subscribers.slice(0, perConversation).map((token, si) => ({ url: servers[(ci + si) % 2].url.replace(/^http/, 'ws'), token, conversationId: c.id, afterSeq: 0 })),
    );
    const started = await worker.ask<{ open: number }>({ cmd: 'start', assignments: assignments.slice(0, subscriberCount), query: SUBSCRIPTION });
    log(`soak: ${started.open} subscribers on 2 instances over ${conversationCount} conversations; ${rate} messages/s for ${options.minutes} min`);

    let sent = 0;
    let otherMutations = 0;
    let queries = 0;
    let failedRequests = 0;
    const recent: { id: string; publisher: string }[] = [];
    const failures = new Map<string, number>();
    const call = async (query: string, variables: Record<string, unknown>, token: string, server = servers[Math.floor(Math.random() * 2)]) => {
      try {
        const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
        const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
        if (body.errors) {
          failedRequests += 1;
          const code = String((body.errors[0] as { extensions?: { code?: string } }).extensions?.code);
          failures.set(code, (failures.get(code) ?? 0) + 1);
        }
        return body.data;
      } catch {
        failedRequests += 1;
        return undefined;
      }
    };
    const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)];

    const samples: SoakSample[] = [];
    const sample = async (second: number) => {
      for (const server of servers) server.collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 400));
      const heaps = await Promise.all(servers.map(async (s) => metric(await s.scrape(), 'nodejs_heap_size_used_bytes')));
      samples.push({ second, heapMB: heaps.map(mb), rssMB: servers.map((s) => mb(s.rssBytes())), fds: servers.map((s) => readdirSync(`/proc/${s.pid}/fd`).length) });
    };

    const began = Date.now();
    const end = began + options.minutes * 60_000;
    const inFlight = new Set<Promise<unknown>>();
    const track = (p: Promise<unknown>) => {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    let tick = 0;
    let nextSample = began + 10_000;
    while (Date.now() < end) {
      tick += 1;
      // Every 100 ms: a tenth of a second's messages, a query or two, now and then the rest.
      for (let i = 0; i < rate / 10; i++) {
        const c = pick(conversations);
        track(
          call(SEND, { input: { conversationId: c.id, body: `soak ${tick}.${i}`, clientMessageId: randomUUID() } }, c.publisher).then((data) => {
            if (!data) return;
            sent += 1;
            recent.push({ id: (data.sendMessage as { id: string }).id, publisher: c.publisher });
            if (recent.length > 200) recent.shift();
          }),
        );
      }
      const c = pick(conversations);
      track(call(tick % 2 ? INBOX : HISTORY, { id: c.id }, pick(c.subscribers)).then(() => (queries += 1)));
      if (tick % 5 === 0 && recent.length) {
        const message = pick(recent);
        track(call(REACT, { id: message.id, emoji: pick(['👍', '🎉', '❤️']) }, message.publisher).then(() => (otherMutations += 1)));
      }
      if (tick % 7 === 0) track(call(TYPING, { id: c.id }, pick(c.subscribers)).then(() => (otherMutations += 1)));
      if (tick % 10 === 0) {
        const [{ last_seq: head }] = (await admin.query(`SELECT last_seq FROM "${schema}".conversations WHERE id = $1`, [c.rawId])).rows;
        track(call(READ, { id: c.id, seq: head }, pick(c.subscribers)).then(() => (otherMutations += 1)));
      }
      // Every 5 s, 2% of the subscribers drop their socket and resume.
      if (tick % 50 === 0) await worker.ask({ cmd: 'reconnect', share: 0.02 });
      if (Date.now() >= nextSample) {
        await sample(Math.round((Date.now() - began) / 1000));
        nextSample += 10_000;
        const last = samples.at(-1)!;
        log(`  ${last.second}s: sent ${sent}, heap ${last.heapMB.join(' / ')} MB, fds ${last.fds.join(' / ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all(inFlight);
    await sample(Math.round((Date.now() - began) / 1000));

    // Settle: every subscriber should reach its conversation's head.
    const heads = new Map<string, number>(
      (await admin.query(`SELECT id, last_seq FROM "${schema}".conversations`)).rows.map((r: { id: string; last_seq: number }) => [Buffer.from(`Conversation:${r.id}`).toString('base64url'), r.last_seq]),
    );
    let stats = await worker.ask<{ received: number; gaps: number; duplicates: number; resyncs: number; reconnects: number; open: number; last: [string, number][] }>({ cmd: 'stats' });
    const behind = () => stats.last.reduce((sum, [id, last]) => sum + Math.max(0, (heads.get(id) ?? 0) - last), 0);
    for (let waited = 0; behind() > 0 && waited < 30_000; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      stats = await worker.ask({ cmd: 'stats' });
    }

    const first = samples[Math.min(1, samples.length - 1)]; // after the first 10 s of warm-up
    const last = samples.at(-1)!;
    const heapGrowthMB = last.heapMB.map((h, i) => Math.round((h - first.heapMB[i]) * 10) / 10);
    const fdGrowth = last.fds.map((f, i) => f - first.fds[i]);
    return {
      at: new Date().toISOString(),
      minutes: options.minutes,
      subscribers: started.open,
      conversations: conversationCount,
      sent,
      otherMutations,
      queries,
      failedRequests,
      failures: Object.fromEntries(failures),
      eventsReceived: stats.received,
      gaps: stats.gaps,
      duplicates: stats.duplicates,
      lost: behind(),
      resyncs: stats.resyncs,
      reconnects: stats.reconnects,
      samples,
      heapGrowthMB,
      fdGrowth,
      // Bounded: the heap after GC grows by less than a quarter (and 16 MB) over the run; descriptors by a handful.
      heapBounded: heapGrowthMB.every((g, i) => g <= Math.max(16, first.heapMB[i] * 0.25)),
      fdsBounded: fdGrowth.every((g) => g <= 20),
    };
  } finally {
    await worker.ask({ cmd: 'close' });
    await Promise.all(servers.map((s) => s.stop()));
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
    await admin.end();
  }
}

async function main(): Promise<void> {
  const minutesArg = process.argv.indexOf('--minutes');
  const minutes = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 1;
  if (!(minutes > 0)) throw new Error('usage: npm run soak -- --minutes N');
  const result = await runSoak({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    minutes,
  });
  writeFileSync(path.join(ROOT, 'bench/soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  const { samples: _samples, ...summary } = result;
  console.log(JSON.stringify(summary, null, 2));
  const ok = result.lost === 0 && result.gaps === 0 && result.duplicates === 0 && result.heapBounded && result.fdsBounded;
  console.log(ok ? 'soak passed: bench/soak.json (npm run bench:report adds it to BENCHMARKS.md)' : 'soak FAILED');
  process.exit(ok ? 0 : 1);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
