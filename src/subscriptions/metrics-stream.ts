import type { DataSource } from 'typeorm';
import type { EventBus } from '../events/bus';
import { Topic, type InstanceReport } from '../events/topics';
import { addBuckets, emptyBuckets, quantile } from '../observability/latency-buckets';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { EventQueue } from './event-queue';
import type { PresenceStore } from './presence';

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

/** This instance's figures, published on the `metrics` topic every `everyMs`; the latest report of every instance, kept. */
class ClusterReports {
  private readonly reports = new Map<string, InstanceReport>();
  private timer: NodeJS.Timeout | undefined;
  private stopListening: () => void = () => undefined;

  constructor(private readonly options: Pick<ClusterMetricsOptions, 'instanceId' | 'bus' | 'metrics'> & { everyMs: number }) {}

  async start(): Promise<void> {
    this.stopListening = await this.options.bus.listen(Topic.metrics(), (received) => this.reports.set(received.instanceId, received));
    this.publish();
    this.timer = setInterval(() => this.publish(), this.options.everyMs);
    this.timer.unref();
  }

  /** Reports of the instances seen in the last INSTANCE_FRESH_MS. */
  fresh(now: number): InstanceReport[] {
    return [...this.reports.values()].filter((report) => now - report.at < INSTANCE_FRESH_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.stopListening();
  }

  private publish(): void {
    const { instanceId, metrics, bus } = this.options;
    const own: InstanceReport = { instanceId, at: Date.now(), connectedClients: metrics.counts.connections, activeSubscriptions: metrics.counts.subscriptions, ...metrics.live.current() };
    this.reports.set(instanceId, own); // also known here while the bus is down
    bus.publishTo(Topic.metrics(), own).catch(() => undefined);
  }
}

/** This instance's whole minutes of figures, written to PostgreSQL every `everyMs` for the rollup job. */
class MinuteFlusher {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: Pick<ClusterMetricsOptions, 'instanceId' | 'dataSource' | 'metrics' | 'logger'> & { everyMs: number }) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async flush(): Promise<void> {
    const { instanceId, dataSource, metrics, logger } = this.options;
    try {
      for (const minute of metrics.live.takeMinutes()) {
        await dataSource.query(
          `INSERT INTO metric_instance_minutes (minute, instance_id, requests, errors, latency_buckets) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (minute, instance_id) DO UPDATE SET requests = EXCLUDED.requests, errors = EXCLUDED.errors, latency_buckets = EXCLUDED.latency_buckets`,
          [minute.minute, instanceId, minute.requests, minute.errors, minute.latencyBuckets],
        );
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not store minute figures');
    }
  }
}

/** The `metrics(intervalSeconds)` subscription: one timer per interval computes each snapshot once, for all its followers. */
class MetricsTickers {
  private readonly tickers = new Map<number, { followers: Set<EventQueue<MetricsSnapshot>>; timer: NodeJS.Timeout; last?: MetricsSnapshot }>();

  constructor(
    private readonly snapshot: () => Promise<MetricsSnapshot>,
    private readonly logger: Logger,
  ) {}

  follow(intervalSeconds: number): EventQueue<MetricsSnapshot> {
    let ticker = this.tickers.get(intervalSeconds);
    const queue = new EventQueue<MetricsSnapshot>(() => {
      ticker!.followers.delete(queue);
      if (ticker!.followers.size > 0) return;
      clearInterval(ticker!.timer);
      this.tickers.delete(intervalSeconds);
    });
    if (!ticker) {
      ticker = { followers: new Set(), timer: setInterval(() => void this.tick(intervalSeconds), intervalSeconds * 1000) };
      ticker.timer.unref();
      this.tickers.set(intervalSeconds, ticker);
      void this.tick(intervalSeconds);
    } else if (ticker.last) {
      queue.push(ticker.last);
    }
    ticker.followers.add(queue);
    return queue;
  }

  stop(): void {
    for (const { timer, followers } of this.tickers.values()) {
      clearInterval(timer);
      for (const follower of followers) void follower.return();
    }
    this.tickers.clear();
  }

  private async tick(intervalSeconds: number): Promise<void> {
    try {
      const snapshot = await this.snapshot();
      const current = this.tickers.get(intervalSeconds);
      if (!current) return;
      current.last = snapshot;
      for (const follower of current.followers) follower.push(snapshot);
    } catch (error) {
      this.logger.warn({ err: error }, 'metrics tick failed');
    }
  }
}

/**
 * Live cluster figures. Every instance publishes its own figures each second and keeps the latest
 * report of every instance; a snapshot adds up the fresh ones, with the cluster's online users and
 * a p95 from every instance's latency buckets (not an average of p95s). Per-minute figures go to
 * PostgreSQL every 10 s for the rollup job.
 */
export async function startClusterMetrics(options: ClusterMetricsOptions) {
  const { presence, logger, reportEveryMs = 1_000, flushEveryMs = 10_000 } = options;
  const reports = new ClusterReports({ ...options, everyMs: reportEveryMs });
  await reports.start();
  const flusher = new MinuteFlusher({ ...options, everyMs: flushEveryMs });
  flusher.start();

  const snapshot = async (): Promise<MetricsSnapshot> => {
    const now = Date.now();
    const fresh = reports.fresh(now);
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
  const tickers = new MetricsTickers(snapshot, logger);

  return {
    snapshot,
    follow: (intervalSeconds: number) => tickers.follow(intervalSeconds),
    async stop() {
      tickers.stop();
      reports.stop();
      await flusher.stop();
    },
  };
}

export type ClusterMetrics = Awaited<ReturnType<typeof startClusterMetrics>>;
