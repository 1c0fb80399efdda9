import { fit } from './stats';
import type { FanoutResult } from './suites/fanout';
import type { ScalingResult } from './suites/scaling';

/**
 * The capacity model of docs/operations.md: the costs one bench run measured (S3, S4, S8), scaled
 * to a workload. A model, not a measurement — it assumes costs stay linear far past what two cores
 * can show, and that sockets land on instances at random (nginx's least_conn).
 */

/** What one bench run measured, per unit of work. */
export interface MeasuredCosts {
  /**
   * Parley CPU for a message with `recipientsMeasured` deliveries: `messageMs` + `receiveMs` for each
   * instance that holds a recipient (S8: the least-squares line of the CPU per message, idle use taken
   * out, over the instances per conversation at 1, 2 and 4 instances), ms.
   */
  messageMs: number;
  receiveMs: number;
  recipientsMeasured: number;
  /**
   * The same split by S8's two-instance run with every send through one instance: accepting a
   * sendMessage, and receiving it on an instance that holds a recipient (its deliveries aside). Lower
   * than the line's slope: spreading the sends over more instances costs more than receiving does.
   */
  acceptMs: number;
  receiveOnlyMs: number;
  /** One delivery of a message to a socket (S3, at 10k subscribers), ms. */
  deliveryMs: number;
  /** An open, subscribed, silent socket (S8), CPU ms per second. */
  idleSocketMs: number;
  /** An instance at rest (S8), CPU ms per second. */
  idleInstanceMs: number;
  /** Accepting a socket: upgrade, connection_init, one subscribe (S8), ms. */
  connectMs: number;
  /** Resident memory: an instance at rest (S8), a subscribed socket (S4), one subscription (S4: subscribed less signed-in), bytes. */
  rssInstance: number;
  rssSocket: number;
  rssSubscription: number;
  /** The load balancer (nginx), PostgreSQL and Redis per message (S8), ms; Redis per instance subscribed to the channel too. */
  nginxMs: number;
  postgresMs: number;
  /** PostgreSQL at rest (S8): a base and each instance's pools, job polling and heartbeats, CPU ms per second. */
  postgresIdleMs: number;
  postgresIdleMsPerInstance: number;
  redisMs: number;
  redisMsPerInstance: number;
  /** PostgreSQL write-ahead log and table growth per message (S8), bytes. */
  walBytes: number;
  storageBytes: number;
}

export interface Workload {
  name: string;
  sockets: number;
  messagesPerSecond: number;
  /** Subscribers online for each message (sockets subscribed to its conversation). */
  recipients: number;
  /** Subscriptions each socket holds. */
  subscriptionsPerSocket: number;
}

/** How full each piece may run: the Kubernetes HPA's 60% CPU and deploy/k8s/parley.yaml's 1 GiB limit. */
export interface Headroom {
  instanceCpu: number;
  instanceMemoryBytes: number;
  instanceMemory: number;
  /** Redis runs commands on one thread per node: the share of it a shard may use. */
  redisShardCpu: number;
  postgresCpu: number;
  loadBalancerCpu: number;
}

const POOL_MAX = 10;

export const HEADROOM: Headroom = { instanceCpu: 0.6, instanceMemoryBytes: 2 ** 30, instanceMemory: 0.75, redisShardCpu: 0.5, postgresCpu: 0.6, loadBalancerCpu: 0.6 };

export const WORKLOADS: Workload[] = [
  { name: '10k sockets, 100 msg/s', sockets: 10_000, messagesPerSecond: 100, recipients: 10, subscriptionsPerSocket: 1 },
  { name: '100k sockets, 1,000 msg/s', sockets: 100_000, messagesPerSecond: 1_000, recipients: 10, subscriptionsPerSocket: 1 },
  { name: '1M sockets, 10,000 msg/s', sockets: 1_000_000, messagesPerSecond: 10_000, recipients: 10, subscriptionsPerSocket: 1 },
  { name: '1M sockets, 10,000 msg/s, 1:1 support chats (2 recipients)', sockets: 1_000_000, messagesPerSecond: 10_000, recipients: 2, subscriptionsPerSocket: 1 },
];

export interface Plan {
  workload: Workload;
  instances: number;
  instancesForCpu: number;
  instancesForMemory: number;
  /** Instances that hold a recipient of a message, on average: each receives it from Redis. */
  receivingInstances: number;
  /** Parley CPU per message across the fleet, ms. */
  messageMs: number;
  /** Busy cores across the instances: messages, idle sockets, idle instances. */
  parleyCores: number;
  socketsPerInstance: number;
  rssPerInstanceBytes: number;
  /** Seconds the survivors need to take over a failed instance's sockets with their spare CPU. */
  reconnectSeconds: number;
  loadBalancerCores: number;
  redisCores: number;
  redisShards: number;
  postgresCores: number;
  /** Client connections PgBouncer takes: every instance's pool (DATABASE_POOL_MAX, default 10). */
  poolConnections: number;
  walMegabytesPerSecond: number;
  storageGigabytesPerDay: number;
}

/** The costs a bench run measured, or undefined when the run lacks S3/S4 or S8 (or predates their CPU figures). */
export function measuredCosts(fanout: FanoutResult | undefined, scaling: ScalingResult | undefined): MeasuredCosts | undefined {
  if (!fanout || !scaling || !fanout.memory.parleyIdle) return undefined;
  const top = Math.max(...fanout.parley.map((p) => p.subscribers));
  const deliveries = fanout.parley.filter((p) => p.subscribers === top && p.cpuUsPerDelivery !== undefined);
  const c = scaling.costs;
  if (deliveries.length === 0 || c.acceptMs === undefined || c.receiverMs === undefined || c.receiverDeliveriesPerMessage === undefined) return undefined;
  // The higher rate's: the sockets' clock-driven work (keep-alive pings), which the model counts per
  // socket, weighs least in its window.
  const deliveryMs = deliveries.reduce((best, p) => (p.rate > best.rate ? p : best)).cpuUsPerDelivery / 1000;
  const line = fit(scaling.steps.map((s) => ({ x: s.instancesPerConversation, y: s.fixedRate.parleyNetMsPerMessage })));
  return {
    messageMs: Math.max(0, line.intercept),
    receiveMs: Math.max(0, line.slope),
    recipientsMeasured: scaling.subscribersPerConversation,
    acceptMs: Math.max(0, c.acceptMs),
    receiveOnlyMs: Math.max(0, c.receiverMs - c.receiverDeliveriesPerMessage * deliveryMs),
    deliveryMs,
    idleSocketMs: Math.max(0, c.idleCpuUsPerSocket) / 1000,
    idleInstanceMs: c.idleCpuMsPerInstance,
    connectMs: c.connectCpuMsPerSocket,
    rssInstance: c.rssEmptyBytes,
    rssSocket: fanout.memory.parley.rssPerSocket,
    rssSubscription: Math.max(0, fanout.memory.parley.rssPerSocket - fanout.memory.parleyIdle.rssPerSocket),
    nginxMs: c.nginxMsPerMessage,
    postgresMs: c.postgresMsPerMessage,
    postgresIdleMs: c.postgresIdleMs,
    postgresIdleMsPerInstance: c.postgresIdleMsPerInstance,
    redisMs: Math.max(0, c.redisMsPerMessage),
    redisMsPerInstance: Math.max(0, c.redisMsPerSubscribedInstance),
    walBytes: c.walBytesPerMessage,
    storageBytes: c.storageBytesPerMessage,
  };
}

/** Instances out of `n` that hold at least one of `recipients` sockets placed at random. */
export const receivingInstances = (n: number, recipients: number) => n * (1 - (1 - 1 / n) ** recipients);

/** Parley CPU for one message with `recipients` online when `receiving` instances hold one of them, ms. */
export const messageCostAt = (costs: MeasuredCosts, receiving: number, recipients: number) => costs.messageMs + receiving * costs.receiveMs + (recipients - costs.recipientsMeasured) * costs.deliveryMs;

const messageCost = (costs: MeasuredCosts, n: number, recipients: number) => messageCostAt(costs, receivingInstances(n, recipients), recipients);

/** The costs with S8's split instead of its line: each message accepted once, received by each instance holding a recipient, delivered to each. */
export const splitCosts = (costs: MeasuredCosts): MeasuredCosts => ({
  ...costs,
  messageMs: costs.acceptMs + costs.recipientsMeasured * costs.deliveryMs,
  receiveMs: costs.receiveOnlyMs,
});

export function plan(costs: MeasuredCosts, workload: Workload, headroom: Headroom = HEADROOM): Plan {
  const { sockets, messagesPerSecond: rate, recipients, subscriptionsPerSocket } = workload;
  const rssPerSocket = costs.rssSocket + (subscriptionsPerSocket - 1) * costs.rssSubscription;
  const socketsPerInstanceByMemory = Math.floor((headroom.instanceMemoryBytes * headroom.instanceMemory - costs.rssInstance) / rssPerSocket);
  if (socketsPerInstanceByMemory <= 0) throw new Error('an instance at rest already uses its memory budget');
  const instancesForMemory = Math.ceil(sockets / socketsPerInstanceByMemory);
  const messageMs = (n: number) => messageCost(costs, n, recipients);
  const busyMs = (n: number) => rate * messageMs(n) + sockets * costs.idleSocketMs + n * costs.idleInstanceMs;
  // More instances spread a conversation's recipients over more of them, and each receives the message:
  // the count that carries the load is a fixed point, found by walking up from the least.
  let instances = Math.max(1, instancesForMemory);
  const forCpu = (n: number) => Math.ceil(busyMs(n) / (1000 * headroom.instanceCpu));
  while (forCpu(instances) > instances) {
    instances += 1;
    if (instances > 1_000_000) throw new Error(`no instance count carries ${workload.name}: each instance added costs more than it brings`);
  }
  const instancesForCpu = forCpu(instances);
  const parleyCores = busyMs(instances) / 1000;
  const socketsPerInstance = Math.ceil(sockets / instances);
  // The survivors carry the whole load, the failed instance's share included, and take its sockets with what is left.
  const spareCores = instances - 1 - parleyCores;
  const redisCores = (rate * (costs.redisMs + receivingInstances(instances, recipients) * costs.redisMsPerInstance)) / 1000;
  return {
    workload,
    instances,
    instancesForCpu,
    instancesForMemory,
    receivingInstances: receivingInstances(instances, recipients),
    messageMs: messageMs(instances),
    parleyCores,
    socketsPerInstance,
    rssPerInstanceBytes: costs.rssInstance + socketsPerInstance * rssPerSocket,
    reconnectSeconds: spareCores > 0 ? (socketsPerInstance * costs.connectMs) / 1000 / spareCores : Infinity,
    loadBalancerCores: (rate * costs.nginxMs) / 1000 / headroom.loadBalancerCpu,
    redisCores,
    redisShards: Math.max(1, Math.ceil(redisCores / headroom.redisShardCpu)),
    postgresCores: (rate * costs.postgresMs + costs.postgresIdleMs + instances * costs.postgresIdleMsPerInstance) / 1000 / headroom.postgresCpu,
    poolConnections: instances * POOL_MAX,
    walMegabytesPerSecond: (rate * costs.walBytes) / 1e6,
    storageGigabytesPerDay: (rate * costs.storageBytes * 86_400) / 1e9,
  };
}

const n = (value: number, digits = 0) => value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The model as markdown: the measured costs, then a plan per workload. */
export function capacityMarkdown(costs: MeasuredCosts, source: { at: string; instances: number[]; subscribers: number }, workloads: Workload[] = WORKLOADS, headroom: Headroom = HEADROOM): string {
  const sizes = source.instances.join(', ').replace(/, (\d+)$/, ' and $1');
  const plans = workloads.map((w) => plan(costs, w, headroom));
  const splitPlans = workloads.map((w) => plan(splitCosts(costs), w, headroom));
  const row = (label: string, cell: (p: Plan) => string) => `| ${label} | ${plans.map(cell).join(' | ')} |`;
  return `**A model, not a measurement**: the costs below were measured by \`npm run bench\` (${source.at}) on two shared
cores of a sandboxed machine where system calls are slow; the plans scale them linearly to loads this machine
cannot produce, and extend S8's line from ${source.instances.at(-1)} instances to many. Expect ordinary server cores to do more per core, and
re-run the bench on your hardware before buying it.

| measured cost | per | value | from |
| --- | --- | ---: | --- |
| Parley CPU for a message with ${costs.recipientsMeasured} deliveries | message | ${n(costs.messageMs, 2)} ms | S8: the line through ${sizes} instances, idle use taken out … |
| … and for each instance holding a recipient | message × instance | ${n(costs.receiveMs, 2)} ms | … its slope |
| … split instead: accepting a \`sendMessage\`; receiving it on an instance | message; message × instance | ${n(costs.acceptMs, 2)} ms; ${n(costs.receiveOnlyMs, 2)} ms | S8, 2 instances, every send through one |
| … one delivery more or less | delivery | ${n(costs.deliveryMs * 1000)} µs | S3, ${n(source.subscribers)} subscribers |
| an open, subscribed, silent socket | socket × second | ${n(costs.idleSocketMs * 1000, 2)} µs | S8: at rest with the sockets less without them, one keep-alive period each (1,000 sockets against 10 ms CPU ticks: rough) |
| accepting a socket (upgrade, \`connection_init\`, subscribe) | socket | ${n(costs.connectMs, 2)} ms | S8 |
| an instance at rest | instance | ${n(costs.idleInstanceMs, 1)} ms/s CPU, ${n(costs.rssInstance / 2 ** 20)} MiB RSS | S8 |
| memory of a subscribed socket / of one more subscription | socket | ${n(costs.rssSocket / 1024, 1)} KiB / ${n(costs.rssSubscription / 1024, 1)} KiB RSS | S4 |
| nginx, the deliveries' WebSocket frames included | message | ${n(costs.nginxMs, 2)} ms | S8, at the margin |
| PostgreSQL | message | ${n(costs.postgresMs, 2)} ms CPU, ${n(costs.walBytes)} B of WAL, ${n(costs.storageBytes)} B stored | S8, at the margin, the dearest size |
| PostgreSQL at rest | instance | ${n(costs.postgresIdleMsPerInstance, 1)} ms/s CPU (pools, job polling, heartbeats) | S8 |
| Redis | message | ${n(costs.redisMs, 3)} ms + ${n(costs.redisMsPerInstance, 3)} ms per subscribed instance | S8, at the margin |

Headroom: instances of one core (Node runs JavaScript on one thread) at ${headroom.instanceCpu * 100}% of it, the HPA's target, and ${headroom.instanceMemory * 100}% of a ${n(headroom.instanceMemoryBytes / 2 ** 30)} GiB
limit (deploy/k8s), PostgreSQL and nginx at ${headroom.postgresCpu * 100}% CPU, a Redis shard at ${headroom.redisShardCpu * 100}% of its one command thread.
deploy/k8s/parley.yaml requests half a core and lets the HPA scale to 20 replicas: at these sizes, request
a whole core (or count twice the instances) and raise \`maxReplicas\`. Sockets land
on instances at random, so a message is received by every instance that holds one of its recipients.

| | ${plans.map((p) => p.workload.name).join(' | ')} |
| --- | ${plans.map(() => '---:').join(' | ')} |
${row('Parley instances (1 core each)', (p) => `**${n(p.instances)}**`)}
${row('… needed for CPU / for memory', (p) => `${n(p.instancesForCpu)} / ${n(p.instancesForMemory)}`)}
| … with the split's costs instead of the line's | ${splitPlans.map((p) => n(p.instances)).join(' | ')} |
${row('instances receiving each message', (p) => n(p.receivingInstances, 1))}
${row('Parley CPU per message, fleet-wide', (p) => `${n(p.messageMs, 1)} ms`)}
${row('sockets and RSS per instance', (p) => `${n(p.socketsPerInstance)}, ${n(p.rssPerInstanceBytes / 2 ** 20)} MiB`)}
${row("take over a failed instance's sockets", (p) => (p.instances > 1 ? `${n(p.reconnectSeconds, 1)} s` : 'no other instance'))}
${row('nginx cores', (p) => n(p.loadBalancerCores, 1))}
${row('Redis: busy cores → shards (masters)', (p) => `${n(p.redisCores, 2)} → **${n(p.redisShards)}**`)}
${row('PostgreSQL primary cores', (p) => `**${n(p.postgresCores, 1)}**`)}
${row('PostgreSQL client connections (through PgBouncer)', (p) => n(p.poolConnections))}
${row('PostgreSQL WAL', (p) => `${n(p.walMegabytesPerSecond, 1)} MB/s`)}
${row('PostgreSQL storage growth', (p) => `${n(p.storageGigabytesPerDay)} GB/day`)}
`;
}
