import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HEADROOM, measuredCosts, messageCostAt, plan, receivingInstances, splitCosts, WORKLOADS, type MeasuredCosts } from '../bench/capacity';
import { CAPACITY_END, CAPACITY_START, capacityModel, type Results } from '../bench/report';
import type { FanoutResult } from '../bench/suites/fanout';
import type { ScalingResult } from '../bench/suites/scaling';

const ROOT = path.resolve(__dirname, '..');

/** Round figures of the order S3, S4 and S8 measure on two cores. */
const costs: MeasuredCosts = {
  messageMs: 1.1,
  receiveMs: 0.4,
  recipientsMeasured: 10,
  acceptMs: 1.2,
  receiveOnlyMs: 0.19,
  deliveryMs: 0.013,
  idleSocketMs: 0.02,
  idleInstanceMs: 25,
  connectMs: 2,
  rssInstance: 150 * 2 ** 20,
  rssSocket: 11_000,
  rssSubscription: 2_700,
  nginxMs: 0.2,
  postgresMs: 1.5,
  postgresIdleMs: 20,
  postgresIdleMsPerInstance: 15,
  redisMs: 0.07,
  redisMsPerInstance: 0.01,
  walBytes: 3_000,
  storageBytes: 850,
};

describe('the capacity model', () => {
  it('counts the instances that hold a recipient of a message, when sockets land at random', () => {
    expect(receivingInstances(1, 10)).toBe(1);
    expect(receivingInstances(4, 10)).toBeCloseTo(4 * (1 - 0.75 ** 10), 6);
    // Many instances: nearly every recipient on an instance of its own.
    expect(receivingInstances(1_000, 10)).toBeGreaterThan(9.9);
    expect(receivingInstances(1_000, 10)).toBeLessThan(10);
  });

  it.each(WORKLOADS)('plans $name with every instance inside its CPU and memory headroom, and no more instances than that needs', (workload) => {
    const p = plan(costs, workload);
    const busyPerInstance = (p.parleyCores * 1000) / p.instances;
    expect(busyPerInstance).toBeLessThanOrEqual(1000 * HEADROOM.instanceCpu);
    expect(p.rssPerInstanceBytes).toBeLessThanOrEqual(HEADROOM.instanceMemoryBytes * HEADROOM.instanceMemory);
    expect(p.instances).toBe(Math.max(p.instancesForCpu, p.instancesForMemory));
    // One fewer would not carry the load (the model finds the least).
    const fewer = p.instances - 1;
    if (fewer >= 1) {
      const fewerBusy = workload.messagesPerSecond * messageCostAt(costs, receivingInstances(fewer, workload.recipients), workload.recipients) + workload.sockets * costs.idleSocketMs + fewer * costs.idleInstanceMs;
      const fewerMemory = costs.rssInstance + Math.ceil(workload.sockets / fewer) * costs.rssSocket;
      expect(fewerBusy / fewer > 1000 * HEADROOM.instanceCpu || fewerMemory > HEADROOM.instanceMemoryBytes * HEADROOM.instanceMemory).toBe(true);
    }
    expect(p.redisShards).toBeGreaterThanOrEqual(Math.ceil(p.redisCores / HEADROOM.redisShardCpu));
    expect(p.postgresCores).toBeCloseTo((workload.messagesPerSecond * costs.postgresMs + 20 + p.instances * 15) / 1000 / HEADROOM.postgresCpu, 6);
    expect(p.storageGigabytesPerDay).toBeCloseTo((workload.messagesPerSecond * costs.storageBytes * 86_400) / 1e9, 6);
  });

  it('charges a message for each instance that holds a recipient, and a delivery more or less for each recipient', () => {
    expect(messageCostAt(costs, 1, 10)).toBeCloseTo(1.5, 9);
    expect(messageCostAt(costs, 4, 10)).toBeCloseTo(1.1 + 4 * 0.4, 9);
    expect(messageCostAt(costs, 2, 2)).toBeCloseTo(1.1 + 2 * 0.4 - 8 * 0.013, 9);
    // The split: accepted once, received by each instance, delivered to each recipient.
    expect(messageCostAt(splitCosts(costs), 3, 10)).toBeCloseTo(1.2 + 3 * 0.19 + 10 * 0.013, 9);
  });

  it('grows with the load: ten times the messages and sockets needs more of everything', () => {
    const small = plan(costs, { name: 'small', sockets: 100_000, messagesPerSecond: 1_000, recipients: 10, subscriptionsPerSocket: 1 });
    const large = plan(costs, { name: 'large', sockets: 1_000_000, messagesPerSecond: 10_000, recipients: 10, subscriptionsPerSocket: 1 });
    expect(large.instances).toBeGreaterThan(small.instances * 5);
    expect(large.postgresCores).toBeGreaterThan(small.postgresCores * 9);
    expect(large.redisShards).toBeGreaterThanOrEqual(small.redisShards);
    // More instances spread a conversation's recipients wider: each message is received by more of them.
    expect(large.receivingInstances).toBeGreaterThanOrEqual(small.receivingInstances);
  });

  it('reads its costs from a run in the units it plans in', () => {
    const load = { cpuMsPerMessage: { parley: 0 }, parleyNetMsPerMessage: 0 };
    const step = (instances: number, net: number) => ({ instances, instancesPerConversation: instances, fixedRate: { ...load, parleyNetMsPerMessage: net } });
    const fanout = {
      parley: [
        { subscribers: 1_000, rate: 5, cpuUsPerDelivery: 40 },
        { subscribers: 10_000, rate: 1, cpuUsPerDelivery: 20 },
        { subscribers: 10_000, rate: 5, cpuUsPerDelivery: 15 },
      ],
      memory: { parley: { rssPerSocket: 11_000 }, parleyIdle: { rssPerSocket: 8_000 } },
    } as unknown as FanoutResult;
    const scaling = {
      subscribersPerConversation: 10,
      // CPU per message 1.5, 1.9, 2.7 ms at 1, 2, 4 instances: the line 1.1 + 0.4 per instance.
      steps: [step(1, 1.5), step(2, 1.9), step(4, 2.7)],
      costs: {
        acceptMs: 1.2, receiverMs: 0.25, receiverDeliveriesPerMessage: 5, idleCpuUsPerSocket: 6, idleCpuMsPerInstance: 20, connectCpuMsPerSocket: 2, rssEmptyBytes: 150e6,
        nginxMsPerMessage: 0.2, postgresMsPerMessage: 1.5, postgresIdleMs: 20, postgresIdleMsPerInstance: 15, redisMsPerMessage: 0.07, redisMsPerSubscribedInstance: 0.01, walBytesPerMessage: 3000, storageBytesPerMessage: 700,
      },
    } as unknown as ScalingResult;
    const measured = measuredCosts(fanout, scaling)!;
    expect(measured.messageMs).toBeCloseTo(1.1, 9);
    expect(measured.receiveMs).toBeCloseTo(0.4, 9);
    // The largest subscriber count at its higher rate, µs → ms.
    expect(measured.deliveryMs).toBeCloseTo(0.015, 9);
    // The receiving instance's own cost: its five deliveries taken out.
    expect(measured.receiveOnlyMs).toBeCloseTo(0.25 - 5 * 0.015, 9);
    expect(measured.idleSocketMs).toBeCloseTo(0.006, 9);
    expect(measured.rssSubscription).toBe(3_000);
    // A run without S8 (or S3) has no model.
    expect(measuredCosts(fanout, undefined)).toBeUndefined();
  });

  it('in docs/operations.md is the one bench/results.json computes (npm run bench rewrites both)', () => {
    const results = JSON.parse(readFileSync(path.join(ROOT, 'bench/results.json'), 'utf8')) as Results;
    const model = capacityModel(results);
    if (!model) throw new Error('bench/results.json lacks S3/S4 or S8 (a BENCH_ONLY run?): commit the results of a whole `npm run bench`');
    const guide = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
    const start = guide.indexOf(CAPACITY_START);
    const end = guide.indexOf(CAPACITY_END);
    expect(start).toBeGreaterThan(0);
    expect(guide.slice(start + CAPACITY_START.length, end)).toBe(`\n${model}`);
  });
});
