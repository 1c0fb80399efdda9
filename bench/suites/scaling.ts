import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { Client } from 'pg';
import { startCluster, type Cluster } from '../../scripts/cluster';
import { Fleet, settle, type FleetStats } from '../lib/fleet';
import type { Progress } from '../lib/progress';
import { sendLoad } from '../lib/send-load';
import { cpuSecondsOf, parleyEnv, parleyNodeOptions, postgresCpuSeconds, processTreeCpuSeconds, rssBytesOf } from '../lib/server';
import { fit, marginalCost } from '../stats';
import { prepareConversations, subscribeMembers, type PreparedConversation } from './fanout';

export interface ScalingLoad {
  /** Messages per second asked (the fixed-rate load); absent at saturation. */
  rate?: number;
  stored: number;
  /** Sends refused with SERVICE_UNAVAILABLE (a client sends them again). */
  refused: number;
  /** Stored messages per second, first send to last answer. */
  storedPerSecond: number;
  /** From the first send until every delivery arrived: the window the CPU figures cover. */
  seconds: number;
  /** sendMessage round trip through nginx, ms. */
  mutationP50: number;
  mutationP99: number;
  /** From send to a subscriber's receipt, ms. */
  delivery: FleetStats;
  deliveredRatio: number;
  /** CPU seconds used from the first send until every delivery arrived. */
  cpuSeconds: { instances: number[]; nginx: number; postgres: number; redis: number };
  /**
   * CPU per stored message, ms: all Parley instances together (what must stay flat as instances
   * are added), each instance per message it accepted, and the shared pieces.
   */
  cpuMsPerMessage: { parley: number; perInstance: (number | null)[]; nginx: number; postgres: number; redis: number };
  /** Parley's CPU per message less what the instances use idle with the same sockets open over the same time, ms. */
  parleyNetMsPerMessage: number;
  /** Messages each instance stored (sendMessage through it) and events it handed to its sockets. */
  storedPerInstance: number[];
  deliveredPerInstance: number[];
  /** PostgreSQL transactions (each statement outside one counts as one) per stored message, every client's. */
  transactionsPerMessage: number;
  /** Stored events subscribers read back from the log (a live event that came before one it follows leaves a gap that is read). */
  replayed: number;
  /** PostgreSQL's CPU per message less what it uses with the instances at rest over the same time, ms. */
  postgresNetMsPerMessage: number;
  /** PostgreSQL's write-ahead log and the schema's tables and indexes, grown per stored message, bytes. */
  walBytesPerMessage: number;
  storageBytesPerMessage: number;
}

export interface ScalingStep {
  instances: number;
  /**
   * CPU all instances use per second at rest, ms: fresh, before any socket connects; with every
   * subscriber connected; and after the loads, once the sockets closed (warm, like the second).
   */
  idleCpuMsPerSecond: { empty: number; withSockets: number; afterSockets: number };
  /** CPU PostgreSQL uses per second while the instances are at rest with the sockets open (pools, job polling), ms. */
  postgresIdleCpuMsPerSecond: number;
  /** What an open, subscribed, silent socket costs per second (keep-alive pings, timers), µs. */
  idleCpuUsPerSocket: number;
  /** Instance CPU to accept a socket: upgrade through nginx, connection_init with a token, one subscribe, ms. */
  connectCpuMsPerSocket: number;
  /** Resident memory of an instance at rest before any socket, bytes (mean over the instances). */
  rssEmptyBytes: number;
  /** Open WebSockets on each instance (nginx's least_conn spreads them). */
  socketsPerInstance: number[];
  /** Instances subscribed to a conversation's channel, on average (Redis PUBSUB NUMSUB): each receives every message of it. */
  instancesPerConversation: number;
  /** Half the fixed rate for as long: the two loads tell what the extra messages cost from what runs by the clock. */
  halfRate: ScalingLoad;
  fixedRate: ScalingLoad;
  /**
   * CPU per message at the margin, from the half and the full rate (cpu = clock × seconds + margin ×
   * messages, for both), so every cost that runs by the clock (timers, job polling, heartbeats,
   * metrics) is counted apart. Parley's (all instances) and PostgreSQL's, ms; and what runs by the
   * clock under load, ms per second.
   */
  marginal: { parleyMs: number; postgresMs: number; redisMs: number; nginxMs: number; parleyClockMsPerSecond: number };
  saturation: ScalingLoad;
  /**
   * Two instances only: the fixed rate sent straight to the first, so the second only receives from
   * Redis and delivers to its half of the sockets. Its CPU per message is what receiving costs an
   * instance; the first's, less the second's, what accepting a sendMessage costs.
   */
  split?: { load: ScalingLoad; acceptMs: number; receiverMs: number; receiverDeliveriesPerMessage: number };
}

export interface ScalingResult {
  conversations: number;
  subscribersPerConversation: number;
  steps: ScalingStep[];
  /** Against one instance: stored/s at saturation, and Parley's CPU per message at the fixed rate and at saturation. */
  ratios: { instances: number; throughput: number; cpuPerMessage: number; marginalCpuPerMessage: number; cpuPerMessageAtSaturation: number }[];
  /**
   * The per-message costs the capacity model uses, from the fixed-rate loads: Parley's CPU for one
   * message at one instance (accepting it, receiving it from Redis, handing it to its subscribers),
   * and what each further instance that receives it adds (least squares over the steps).
   */
  costs: {
    /** At one instance, less its idle use. */
    parleyMsPerMessage: number;
    /** An open, subscribed, silent socket, per second, µs (mean over the steps). */
    idleCpuUsPerSocket: number;
    /** An instance at rest with no sockets, per second, ms. */
    idleCpuMsPerInstance: number;
    /** Accepting one socket (upgrade, connection_init, subscribe), ms. */
    connectCpuMsPerSocket: number;
    rssEmptyBytes: number;
    /** At the margin, with its deliveries' WebSocket frames. */
    nginxMsPerMessage: number;
    /** The slope of the net CPU per message over instances per conversation (least squares over the steps), ms. */
    receiveMsPerInstance: number;
    /** From the two-instance split: accepting a sendMessage, and what an instance that only receives pays per message (its deliveries included), ms. */
    acceptMs?: number;
    receiverMs?: number;
    receiverDeliveriesPerMessage?: number;
    /** At the margin, the highest over the steps (more instances, more transactions per message). */
    postgresMsPerMessage: number;
    /** PostgreSQL at rest: a base, and what each instance adds (pools, job polling, heartbeats), ms per second. */
    postgresIdleMs: number;
    postgresIdleMsPerInstance: number;
    /** Redis at the margin: a publish, and each instance subscribed to the channel it is sent to (least squares over the steps). */
    redisMsPerMessage: number;
    redisMsPerSubscribedInstance: number;
    walBytesPerMessage: number;
    storageBytesPerMessage: number;
  };
}

export interface ScalingOptions {
  databaseUrl: string;
  schema: string;
  redisUrl: string;
  instances: number[];
  rate: number;
  seconds: number;
  saturationMessages: number;
  /** How long each rest is measured: one keep-alive period (WS_KEEPALIVE, 12 s by default) counts every socket's ping once. */
  idleSeconds: number;
  progress: Progress;
}

/** CPU per second at rest, ms. */
interface Idle {
  parley: number;
  postgres: number;
}

const CONVERSATIONS = 100;
/** Sends per instance before anything is measured. */
const WARM_UP_SENDS = 2_000;
const PER_CONVERSATION = 10;

/** The sum of every series of `name` in a Prometheus exposition. */
const metricSum = (text: string, name: string) => {
  let sum = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(match[1]);
  return sum;
};

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** Everything a load's costs are computed from, read before and after it. */
async function reading(cluster: Cluster, db: Client, redis: Redis, schema: string) {
  const scrapes = await Promise.all(cluster.instances.map(async (instance) => (await fetch(instance.url.replace(/\/graphql$/, '/metrics'))).text()));
  const { rows } = await db.query(
    `SELECT pg_current_wal_lsn()::text AS lsn,
            (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database)::text AS transactions,
            (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r')::text AS bytes`,
    [schema],
  );
  return {
    instances: cluster.instances.map((instance) => cpuSecondsOf(instance.server.child.pid!)),
    nginx: processTreeCpuSeconds(cluster.nginxPid),
    postgres: postgresCpuSeconds(),
    redis: await redisCpuSeconds(redis),
    published: scrapes.map((text) => metricSum(text, 'parley_events_published_total')),
    delivered: scrapes.map((text) => metricSum(text, 'parley_events_delivered_total')),
    replayed: scrapes.reduce((sum, text) => sum + metricSum(text, 'parley_events_replayed_total'), 0),
    sockets: scrapes.map((text) => metricSum(text, 'parley_ws_connections')),
    lsn: rows[0].lsn as string,
    transactions: Number(rows[0].transactions),
    bytes: Number(rows[0].bytes),
  };
}

async function measureLoad(
  cluster: Cluster,
  fleet: Fleet,
  conversations: PreparedConversation[],
  db: Client,
  redis: Redis,
  schema: string,
  load: { rate?: number; amount: number; idle: Idle; url?: string },
): Promise<ScalingLoad> {
  await fleet.reset();
  const before = await reading(cluster, db, redis, schema);
  const startedAt = performance.now();
  const { result, stored, refused, seconds } = await sendLoad(load.url ?? cluster.url, conversations, { connections: load.rate ? 10 : 64, overallRate: load.rate, amount: load.amount });
  const delivery = await settle(fleet, stored * PER_CONVERSATION, 60_000);
  const after = await reading(cluster, db, redis, schema);
  const elapsed = (performance.now() - startedAt) / 1000;
  const {
    rows: [wal],
  } = await db.query(`SELECT pg_wal_lsn_diff($1, $2)::bigint::text AS bytes`, [after.lsn, before.lsn]);
  const cpu = {
    instances: after.instances.map((value, i) => round(value - before.instances[i])),
    nginx: round(after.nginx - before.nginx),
    postgres: round(after.postgres - before.postgres),
    redis: round(after.redis - before.redis),
  };
  const storedPerInstance = after.published.map((value, i) => value - before.published[i]);
  const perMessage = (cpuSeconds: number, messages = stored) => round((cpuSeconds * 1000) / Math.max(1, messages), 3);
  const parleyCpu = cpu.instances.reduce((a, b) => a + b, 0);
  return {
    ...(load.rate ? { rate: load.rate } : {}),
    stored,
    refused,
    storedPerSecond: Math.round(stored / seconds),
    seconds: round(elapsed),
    mutationP50: result.latency.p50,
    mutationP99: result.latency.p99,
    delivery,
    deliveredRatio: round(delivery.received / Math.max(1, stored * PER_CONVERSATION), 4),
    cpuSeconds: cpu,
    cpuMsPerMessage: {
      parley: perMessage(parleyCpu),
      perInstance: cpu.instances.map((value, i) => (storedPerInstance[i] > 0 ? perMessage(value, storedPerInstance[i]) : null)),
      nginx: perMessage(cpu.nginx),
      postgres: perMessage(cpu.postgres),
      redis: perMessage(cpu.redis),
    },
    parleyNetMsPerMessage: perMessage(Math.max(0, parleyCpu - (load.idle.parley * elapsed) / 1000)),
    postgresNetMsPerMessage: perMessage(Math.max(0, cpu.postgres - (load.idle.postgres * elapsed) / 1000)),
    replayed: after.replayed - before.replayed,
    transactionsPerMessage: round((after.transactions - before.transactions) / Math.max(1, stored)),
    storedPerInstance,
    deliveredPerInstance: after.delivered.map((value, i) => value - before.delivered[i]),
    walBytesPerMessage: Math.round(Number(wal.bytes) / Math.max(1, stored)),
    storageBytesPerMessage: Math.round((after.bytes - before.bytes) / Math.max(1, stored)),
  };
}

/** Redis PUBSUB NUMSUB over the conversations' channels: how many instances receive each message. */
async function instancesPerConversation(redis: Redis, prefix: string, conversations: PreparedConversation[]): Promise<number> {
  const reply = (await redis.pubsub('NUMSUB', ...conversations.map((c) => `${prefix}conversation:${c.rawId}`))) as (string | number)[];
  let sum = 0;
  for (let i = 1; i < reply.length; i += 2) sum += Number(reply[i]);
  return round(sum / conversations.length);
}

async function step(options: ScalingOptions, instances: number, db: Client, redis: Redis): Promise<ScalingStep> {
  const { conversations } = await prepareConversations(options.databaseUrl, options.schema, CONVERSATIONS, PER_CONVERSATION);
  const prefix = `bench:${options.schema}:`;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'parley-s8-'));
  const cluster = await startCluster({
    databaseUrl: options.databaseUrl,
    redisUrl: options.redisUrl,
    instances,
    workDir,
    env: parleyEnv({ databaseUrl: options.databaseUrl, schema: options.schema, redisUrl: options.redisUrl, redisPrefix: prefix }),
    nodeOptions: parleyNodeOptions(),
  });
  const fleet = new Fleet();
  const instanceCpu = () => cluster.instances.reduce((sum, instance) => sum + cpuSecondsOf(instance.server.child.pid!), 0);
  // What the instances (summed) and PostgreSQL use at rest, in ms per second over `seconds`.
  const idle = async (seconds: number): Promise<Idle> => {
    const before = { parley: instanceCpu(), postgres: postgresCpuSeconds() };
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return { parley: round(((instanceCpu() - before.parley) * 1000) / seconds), postgres: round(((postgresCpuSeconds() - before.postgres) * 1000) / seconds) };
  };
  try {
    const empty = await idle(options.idleSeconds);
    const rssEmptyBytes = Math.round(cluster.instances.reduce((sum, instance) => sum + rssBytesOf(instance.server.child.pid!), 0) / instances);
    // The first tenth of the sockets warm the instances' code up; the rest are what accepting one costs.
    const warmConversations = CONVERSATIONS / 10;
    const wsUrl = cluster.url.replace(/^http/, 'ws');
    await subscribeMembers(fleet, wsUrl, conversations.slice(0, warmConversations), PER_CONVERSATION);
    const beforeConnect = instanceCpu();
    const connectStartedAt = performance.now();
    await subscribeMembers(fleet, wsUrl, conversations.slice(warmConversations), PER_CONVERSATION);
    // Less what the instances use at rest over the same time.
    const connectCpu = instanceCpu() - beforeConnect - (empty.parley / 1000) * ((performance.now() - connectStartedAt) / 1000);
    const connectCpuMsPerSocket = round((Math.max(0, connectCpu) * 1000) / ((CONVERSATIONS - warmConversations) * PER_CONVERSATION), 3);
    // Warm up: a message per conversation reaches all subscribers, on every instance...
    await sendLoad(cluster.url, conversations, { connections: 10, amount: CONVERSATIONS });
    const warm = await settle(fleet, CONVERSATIONS * PER_CONVERSATION, 30_000);
    if (warm.received < CONVERSATIONS * PER_CONVERSATION) throw new Error(`warm-up reached ${warm.received} of ${CONVERSATIONS * PER_CONVERSATION} subscribers`);
    // ...and enough sends for every instance's code to be compiled: a fresh instance spends about a second of
    // CPU on that, which over a short load would count against each instance added.
    const warmUp = await sendLoad(cluster.url, conversations, { connections: 32, amount: WARM_UP_SENDS * instances });
    await settle(fleet, (CONVERSATIONS + warmUp.stored) * PER_CONVERSATION, 60_000);
    const spread = await instancesPerConversation(redis, prefix, conversations);
    const withSockets = await idle(options.idleSeconds);
    const sockets = CONVERSATIONS * PER_CONVERSATION;

    options.progress.step(`S8: ${instances} instance${instances > 1 ? 's' : ''}, ${options.rate / 2} and ${options.rate} msg/s`);
    const halfRate = await measureLoad(cluster, fleet, conversations, db, redis, options.schema, { rate: options.rate / 2, amount: (options.rate / 2) * options.seconds, idle: withSockets });
    const fixedRate = await measureLoad(cluster, fleet, conversations, db, redis, options.schema, { rate: options.rate, amount: options.rate * options.seconds, idle: withSockets });
    const marginal = atTheMargin(halfRate, fixedRate);
    options.progress.step(`S8: ${instances} instance${instances > 1 ? 's' : ''}, saturation`);
    const saturation = await measureLoad(cluster, fleet, conversations, db, redis, options.schema, { amount: options.saturationMessages, idle: withSockets });
    let split: ScalingStep['split'];
    if (instances === 2) {
      options.progress.step(`S8: 2 instances, ${options.rate} msg/s all through the first`);
      const load = await measureLoad(cluster, fleet, conversations, db, redis, options.schema, { rate: options.rate, amount: options.rate * options.seconds, idle: withSockets, url: cluster.instances[0].url });
      // Each instance's share of the rest use, taken out of its CPU over the window.
      const net = load.cpuSeconds.instances.map((cpu) => cpu - (withSockets.parley / instances / 1000) * load.seconds);
      const perMessage = (cpuSeconds: number) => round((cpuSeconds * 1000) / Math.max(1, load.stored), 3);
      split = { load, acceptMs: perMessage(net[0] - net[1]), receiverMs: perMessage(net[1]), receiverDeliveriesPerMessage: round(load.deliveredPerInstance[1] / Math.max(1, load.stored)) };
    }
    // The same rest without the sockets, on instances as warm as they were with them: a fresh
    // process's rest (`empty`) still settles its start-up and costs more than one that has worked.
    const socketsPerInstance = (await reading(cluster, db, redis, options.schema)).sockets;
    await fleet.close();
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const afterSockets = await idle(options.idleSeconds);
    return {
      instances,
      idleCpuMsPerSecond: { empty: empty.parley, withSockets: withSockets.parley, afterSockets: afterSockets.parley },
      postgresIdleCpuMsPerSecond: withSockets.postgres,
      idleCpuUsPerSocket: round(((withSockets.parley - afterSockets.parley) * 1000) / sockets, 3),
      connectCpuMsPerSocket,
      rssEmptyBytes,
      socketsPerInstance,
      instancesPerConversation: spread,
      halfRate,
      fixedRate,
      marginal,
      saturation,
      ...(split ? { split } : {}),
    };
  } finally {
    await fleet.close();
    await cluster.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Splits two loads' CPU into what runs by the clock and what each message costs (stats.ts,
 * marginalCost), for Parley (all instances), PostgreSQL, Redis and nginx.
 */
function atTheMargin(low: ScalingLoad, high: ScalingLoad): ScalingStep['marginal'] {
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const solve = (pick: (cpu: ScalingLoad['cpuSeconds']) => number) => {
    const cost = marginalCost({ cpu: pick(low.cpuSeconds), seconds: low.seconds, messages: low.stored }, { cpu: pick(high.cpuSeconds), seconds: high.seconds, messages: high.stored });
    if (!cost) throw new Error(`S8: the half-rate and full-rate loads cannot be told apart (${low.stored} and ${high.stored} messages)`);
    return cost;
  };
  const parley = solve((cpu) => sum(cpu.instances));
  const ms = (cost: { perMessage: number }) => round(cost.perMessage * 1000, 3);
  return {
    parleyMs: ms(parley),
    postgresMs: ms(solve((cpu) => cpu.postgres)),
    redisMs: ms(solve((cpu) => cpu.redis)),
    nginxMs: ms(solve((cpu) => cpu.nginx)),
    parleyClockMsPerSecond: round(parley.perSecond * 1000),
  };
}

/**
 * S8: a scaling curve. 1, 2 and 4 instances behind nginx (npm run cluster's topology) on one
 * PostgreSQL and one Redis; 1,000 subscribers over 100 conversations connect through nginx, which
 * spreads them over the instances, so most conversations have subscribers on every instance. Each
 * step sends at a fixed rate (the same load for every size: CPU per message compares like with like),
 * then at saturation, and reads the CPU every process used: each instance, nginx, PostgreSQL, Redis.
 */
export async function scaling(options: ScalingOptions): Promise<ScalingResult> {
  const db = new Client({ connectionString: options.databaseUrl });
  await db.connect();
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const steps: ScalingStep[] = [];
  try {
    for (const instances of options.instances) steps.push(await step(options, instances, db, redis));
  } finally {
    await db.end();
    redis.disconnect();
  }
  const first = steps[0];
  const ratios = steps.map((s) => ({
    instances: s.instances,
    throughput: round(s.saturation.storedPerSecond / first.saturation.storedPerSecond),
    cpuPerMessage: round(s.fixedRate.cpuMsPerMessage.parley / first.fixedRate.cpuMsPerMessage.parley),
    marginalCpuPerMessage: round(s.marginal.parleyMs / Math.max(1e-6, first.marginal.parleyMs)),
    cpuPerMessageAtSaturation: round(s.saturation.cpuMsPerMessage.parley / first.saturation.cpuMsPerMessage.parley),
  }));
  const parleyLine = fit(steps.map((s) => ({ x: s.instancesPerConversation, y: s.fixedRate.parleyNetMsPerMessage })));
  const redisLine = fit(steps.map((s) => ({ x: s.instancesPerConversation, y: s.marginal.redisMs })));
  const postgresIdleLine = fit(steps.map((s) => ({ x: s.instances, y: s.postgresIdleCpuMsPerSecond })));
  const mean = (pick: (load: ScalingLoad) => number) => round(steps.reduce((sum, s) => sum + pick(s.fixedRate), 0) / steps.length, 3);
  const split = steps.find((s) => s.split)?.split;
  return {
    conversations: CONVERSATIONS,
    subscribersPerConversation: PER_CONVERSATION,
    steps,
    ratios,
    costs: {
      parleyMsPerMessage: first.fixedRate.parleyNetMsPerMessage,
      idleCpuUsPerSocket: round(steps.reduce((sum, s) => sum + s.idleCpuUsPerSocket, 0) / steps.length, 3),
      idleCpuMsPerInstance: round(steps.reduce((sum, s) => sum + s.idleCpuMsPerSecond.afterSockets / s.instances, 0) / steps.length),
      connectCpuMsPerSocket: round(steps.reduce((sum, s) => sum + s.connectCpuMsPerSocket, 0) / steps.length, 3),
      rssEmptyBytes: Math.round(steps.reduce((sum, s) => sum + s.rssEmptyBytes, 0) / steps.length),
      nginxMsPerMessage: round(steps.reduce((sum, s) => sum + s.marginal.nginxMs, 0) / steps.length, 3),
      receiveMsPerInstance: round(parleyLine.slope, 3),
      ...(split ? { acceptMs: split.acceptMs, receiverMs: split.receiverMs, receiverDeliveriesPerMessage: split.receiverDeliveriesPerMessage } : {}),
      postgresMsPerMessage: Math.max(...steps.map((s) => s.marginal.postgresMs)),
      postgresIdleMsPerInstance: round(Math.max(0, postgresIdleLine.slope)),
      postgresIdleMs: round(Math.max(0, postgresIdleLine.intercept)),
      redisMsPerMessage: round(Math.max(0, redisLine.intercept), 3),
      redisMsPerSubscribedInstance: round(Math.max(0, redisLine.slope), 3),
      walBytesPerMessage: Math.round(mean((l) => l.walBytesPerMessage)),
      storageBytesPerMessage: Math.round(mean((l) => l.storageBytesPerMessage)),
    },
  };
}
