import type { DataSource } from 'typeorm';
import { EventQueue } from '../subscriptions/event-queue';
import type { PresenceStore } from '../subscriptions/presence';
import type { EventBus } from '../subscriptions/pubsub';
import { Topic, type InstanceReport } from '../subscriptions/topics';
import { addBuckets, emptyBuckets, quantile } from './latency-buckets';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/** An instance counts as up while its last report is younger than this. */
export const INSTANCE_FRESH_MS = 5_000;

export interface MetricsSnapshot {
  at: Date;
  instances: number;
  connectedClients: number;
  activeSubscriptions: number;
  onlineUsers: number;
  messagesPerMinute: number;
  requestsPerSecond: number;
  p95LatencyMs: number;
  errorsPerMinute: number;
}

export interface ClusterMetricsOptions {
  instanceId: string;
  bus: EventBus;
  metrics: Metrics;
  presence: PresenceStore;
  dataSource: DataSource;
  logger: Logger;
  /** How often this instance reports its figures to the others, in ms. */
  reportEveryMs?: number;
  /** How often this instance stores its per-minute figures for the rollup job, in ms. */
  flushEveryMs?: number;
}

/**
 * Live cluster figures. Every instance publishes its own figures each second on the `metrics` topic
 * and keeps the latest report of every instance; a snapshot adds up the fresh ones (instances seen
 * in the last 5 s). `follow(n)` serves the `metrics` subscription: one timer per interval per
 * instance computes each snapshot once, for all its subscribers. Per-minute figures go to
 * PostgreSQL every 10 s for the rollup job.
 */
export async function startClusterMetrics(options: ClusterMetricsOptions) {
  const { instanceId, bus, metrics, presence, dataSource, logger, reportEveryMs = 1_000, flushEveryMs = 10_000 } = options;
  const reports = new Map<string, InstanceReport>();
  const report = (): InstanceReport => ({
    instanceId,
    at: Date.now(),
    connectedClients: metrics.counts.connections,
    activeSubscriptions: metrics.counts.subscriptions,
    ...metrics.live.current(),
  });
  const stopListening = await bus.listen(Topic.metrics(), (received) => reports.set(received.instanceId, received));
  const publish = () => {
    const own = report();
    reports.set(instanceId, own); // also known here while the bus is down
    bus.publishTo(Topic.metrics(), own).catch(() => undefined);
  };
  const flush = async () => {
    for (const minute of metrics.live.takeMinutes()) {
      await dataSource.query(
        `INSERT INTO metric_instance_minutes (minute, instance_id, requests, errors, latency_buckets) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (minute, instance_id) DO UPDATE SET requests = EXCLUDED.requests, errors = EXCLUDED.errors, latency_buckets = EXCLUDED.latency_buckets`,
        [minute.minute, instanceId, minute.requests, minute.errors, minute.latencyBuckets],
      );
    }
  };
  publish();
  const reporting = setInterval(publish, reportEveryMs);
  const flushing = setInterval(() => flush().catch((error: unknown) => logger.warn({ err: error }, 'could not store minute figures')), flushEveryMs);
  reporting.unref();
  flushing.unref();

  const snapshot = async (): Promise<MetricsSnapshot> => {
    const now = Date.now();
    const fresh = [...reports.values()].filter((r) => now - r.at < INSTANCE_FRESH_MS);
    const sum = (pick: (r: InstanceReport) => number) => fresh.reduce((total, r) => total + pick(r), 0);
    return {
      at: new Date(now),
      instances: fresh.length,
      connectedClients: sum((r) => r.connectedClients),
      activeSubscriptions: sum((r) => r.activeSubscriptions),
      onlineUsers: await presence.count(),
      messagesPerMinute: sum((r) => r.messagesPerMinute),
      requestsPerSecond: sum((r) => r.requestsPerSecond),
      p95LatencyMs: quantile(fresh.reduce((all, r) => addBuckets(all, r.latencyBuckets), emptyBuckets()), 0.95),
      errorsPerMinute: sum((r) => r.errorsPerMinute),
    };
  };

  const tickers = new Map<number, { followers: Set<EventQueue<MetricsSnapshot>>; timer: NodeJS.Timeout; last?: MetricsSnapshot }>();
  const follow = (intervalSeconds: number): EventQueue<MetricsSnapshot> => {
    let ticker = tickers.get(intervalSeconds);
    const queue = new EventQueue<MetricsSnapshot>(() => {
      ticker!.followers.delete(queue);
      if (ticker!.followers.size > 0) return;
      clearInterval(ticker!.timer);
      tickers.delete(intervalSeconds);
    });
    if (!ticker) {
      const tick = async () => {
        const current = tickers.get(intervalSeconds);
        if (!current) return;
        current.last = await snapshot();
        for (const follower of current.followers) follower.push(current.last);
      };
      ticker = { followers: new Set(), timer: setInterval(() => void tick().catch((error: unknown) => logger.warn({ err: error }, 'metrics tick failed')), intervalSeconds * 1000) };
      ticker.timer.unref();
      tickers.set(intervalSeconds, ticker);
      void tick().catch(() => undefined);
    } else if (ticker.last) {
      queue.push(ticker.last);
    }
    ticker.followers.add(queue);
    return queue;
  };

  return {
    snapshot,
    follow,
    async stop() {
      clearInterval(reporting);
      clearInterval(flushing);
      for (const { timer, followers } of tickers.values()) {
        clearInterval(timer);
        for (const follower of followers) void follower.return();
      }
      tickers.clear();
      stopListening();
      await flush().catch((error: unknown) => logger.warn({ err: error }, 'could not store minute figures'));
    },
  };
}

export type ClusterMetrics = Awaited<ReturnType<typeof startClusterMetrics>>;
