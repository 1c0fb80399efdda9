import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LATENCY_BOUNDS_MS } from './latency-buckets';
import { createLiveFigures } from './live-figures';

/** Distinct operation names kept as label values; later names count as "other" (a client picks names). */
const MAX_OPERATION_NAMES = 200;

export type Outcome = 'ok' | 'error';

/**
 * Parley's Prometheus metrics (one registry per app, served on GET /metrics) and the live figures
 * it reports to the cluster. Every hook here is cheap and synchronous: they sit on hot paths.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const live = createLiveFigures();
  const names = new Set<string>();
  /** What the gauges hold, readable synchronously for the cluster report. */
  const counts = { connections: 0, subscriptions: 0 };

  const operations = new Counter({
    name: 'parley_graphql_operations_total',
    help: 'GraphQL operations by transport, type, name and outcome.',
    labelNames: ['transport', 'type', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'parley_graphql_operation_duration_seconds',
    help: 'Time to answer a query or mutation.',
    labelNames: ['transport', 'type'] as const,
    buckets: LATENCY_BOUNDS_MS.map((ms) => ms / 1000),
    registers: [registry],
  });
  const wsConnections = new Gauge({ name: 'parley_ws_connections', help: 'Open WebSocket connections.', registers: [registry] });
  const subscriptions = new Gauge({ name: 'parley_subscriptions_active', help: 'Active subscriptions by root field.', labelNames: ['field'] as const, registers: [registry] });
  const published = new Counter({ name: 'parley_events_published_total', help: 'Stored events committed and published, by type.', labelNames: ['type'] as const, registers: [registry] });
  const delivered = new Counter({ name: 'parley_events_delivered_total', help: 'Conversation events handed to subscribers, by type.', labelNames: ['type'] as const, registers: [registry] });
  const lag = new Histogram({
    name: 'parley_event_delivery_lag_seconds',
    help: 'From an event occurring to its delivery to this instance\'s subscribers (once per event and instance).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const deliveredByType = new Map<string, ReturnType<typeof delivered.labels>>();
  const lagObserved = new WeakSet<object>();
  const replayed = new Counter({ name: 'parley_events_replayed_total', help: 'Stored events read from the log for resumes and gap repair.', registers: [registry] });
  const refusedConnections = new Counter({
    name: 'parley_ws_connections_refused_total',
    help: 'WebSockets closed with 4429: over WS_MAX_CONNECTIONS_PER_USER (cap="user") or _PER_ADDRESS (cap="address").',
    labelNames: ['cap'] as const,
    registers: [registry],
  });
  const slowConsumers = new Counter({ name: 'parley_ws_slow_consumers_total', help: 'WebSockets closed with 1013 because their client stopped reading (WS_MAX_QUEUED_EVENTS).', registers: [registry] });
  const shed = new Counter({ name: 'parley_http_requests_shed_total', help: 'GraphQL requests refused at once with 503 because HTTP_MAX_IN_FLIGHT were in progress.', registers: [registry] });
  const resyncs = new Counter({ name: 'parley_resyncs_total', help: 'ResyncRequired events sent (more missed than the replay limit).', registers: [registry] });
  const rateLimited = new Counter({ name: 'parley_rate_limited_total', help: 'Calls refused by @rateLimit, by field.', labelNames: ['field'] as const, registers: [registry] });
  const webhookAttempts = new Counter({
    name: 'parley_webhook_attempts_total',
    help: 'Outbound webhook attempts: delivered (2xx), failed (retried later), dead (the last attempt failed).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const jobRuns = new Counter({ name: 'parley_job_runs_total', help: 'Background job runs by job and outcome.', labelNames: ['job', 'outcome'] as const, registers: [registry] });
  const jobDuration = new Histogram({ name: 'parley_job_duration_seconds', help: 'Background job run time.', labelNames: ['job'] as const, registers: [registry] });

  return {
    registry,
    live,
    counts,
    operation(transport: 'http' | 'ws', type: string, name: string | null | undefined, outcome: Outcome, seconds: number) {
      let operation = name ?? 'anonymous';
      if (!names.has(operation)) {
        if (names.size < MAX_OPERATION_NAMES) names.add(operation);
        else operation = 'other';
      }
      operations.inc({ transport, type, operation, outcome });
      duration.observe({ transport, type }, seconds);
      live.operation(seconds * 1000, outcome === 'error');
    },
    slowConsumerDropped() {
      slowConsumers.inc();
    },
    requestShed() {
      shed.inc();
    },
    connectionRefused(cap: 'user' | 'address') {
      refusedConnections.labels(cap).inc();
    },
    wsConnected() {
      counts.connections += 1;
      wsConnections.inc();
    },
    wsDisconnected() {
      counts.connections -= 1;
      wsConnections.dec();
    },
    subscribed(field: string) {
      counts.subscriptions += 1;
      subscriptions.inc({ field });
    },
    unsubscribed(field: string) {
      counts.subscriptions -= 1;
      subscriptions.dec({ field });
    },
    eventPublished(type: string) {
      published.inc({ type });
      if (type === 'MessageAdded') live.message();
    },
    /**
     * Called once per subscriber per event, so it does little: label children are looked up once per
     * type, and the lag is observed once per event (its subscribers on this instance receive it
     * within the same turn). `live`: from the bus; a replayed event's age is how long the client was
     * away, not lag.
     */
    eventDelivered(event: { type: string; occurredAt: string }, live = true) {
      let child = deliveredByType.get(event.type);
      if (!child) deliveredByType.set(event.type, (child = delivered.labels(event.type)));
      child.inc();
      if (!live || lagObserved.has(event)) return;
      lagObserved.add(event);
      lag.observe(Math.max(0, Date.now() - Date.parse(event.occurredAt)) / 1000);
    },
    eventsReplayed: (count: number) => replayed.inc(count),
    resync: () => resyncs.inc(),
    rateLimited: (field: string) => rateLimited.inc({ field }),
    webhookAttempt: (outcome: 'delivered' | 'failed' | 'dead') => webhookAttempts.inc({ outcome }),
    jobRun(job: string, outcome: 'completed' | 'failed', seconds: number) {
      jobRuns.inc({ job, outcome });
      jobDuration.observe({ job }, seconds);
    },
    /** A gauge read at each scrape (e.g. dead-letter queue sizes); if reading fails, the scrape still succeeds with the last values. */
    gaugeOnScrape(name: string, help: string, labelName: string, read: () => Promise<Record<string, number>>) {
      new Gauge({
        name,
        help,
        labelNames: [labelName],
        registers: [registry],
        async collect() {
          let values: Record<string, number>;
          try {
            values = await read();
          } catch {
            // PostgreSQL is away: keep the last values rather than fail the whole scrape.
            return;
          }
          this.reset();
          for (const [label, value] of Object.entries(values)) this.set({ [labelName]: label }, value);
        },
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
