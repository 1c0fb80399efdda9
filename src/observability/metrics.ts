import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withTimeout } from './health';
import { LATENCY_BOUNDS_MS } from './latency-buckets';
import { createLiveFigures } from './live-figures';

/** Distinct operation names kept as label values; later names count as "other" (a client picks names). */
const MAX_OPERATION_NAMES = 200;

export type Outcome = 'ok' | 'error';
/** Distinct error codes kept as label values (Parley's are a short fixed list; this bounds a surprise). */
const MAX_ERROR_CODES = 50;
/** How long a gauge read at scrape time may take before the scrape goes on with its last values. */
const SCRAPE_READ_TIMEOUT_MS = 2_000;

/** The routes HTTP metrics and request logs name; anything else is "other" (a path is the client's to pick). */
const ROUTES = new Set(['/graphql', '/healthz', '/readyz', '/metrics', '/webhooks/inbound', '/demo', '/dashboard']);
export function routeOf(path: string): string {
  const route = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return ROUTES.has(route) ? route : route.startsWith('/assets/') ? '/assets' : 'other';
}

/** One gauge series per key of `values`, labelled `label`. */
export function seriesBy<L extends string>(label: L, values: Record<string, number>): [Record<L, string>, number][] {
  return Object.entries(values).map(([key, value]) => [{ [label]: key } as Record<L, string>, value]);
}

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
  const codes = new Set<string>();

  const operations = new Counter({
    name: 'parley_graphql_operations_total',
    help: 'GraphQL operations by transport, type, name and outcome.',
    labelNames: ['transport', 'type', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'parley_graphql_operation_duration_seconds',
    help: 'Time to answer a query or mutation, by transport, type and operation name.',
    labelNames: ['transport', 'type', 'operation'] as const,
    buckets: LATENCY_BOUNDS_MS.map((ms) => ms / 1000),
    registers: [registry],
  });
  const errors = new Counter({
    name: 'parley_graphql_errors_total',
    help: 'GraphQL errors sent to clients, by extensions.code (one answer may carry several).',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP requests by method, route and status: from the first byte read to the last written.',
    labelNames: ['method', 'route', 'status'] as const,
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
  const jobRuns = new Counter({ name: 'parley_job_runs_total', help: 'Background job runs by queue (the job\'s name) and outcome.', labelNames: ['queue', 'outcome'] as const, registers: [registry] });
  const jobDuration = new Histogram({ name: 'parley_job_duration_seconds', help: 'Background job run time, by queue.', labelNames: ['queue'] as const, registers: [registry] });

  // Series that alerts take an increase() of start at 0, not at their first event: increase()
  // cannot see a series' first sample, so an instance's first dead delivery would go unseen.
  for (const outcome of ['delivered', 'failed', 'dead'] as const) webhookAttempts.inc({ outcome }, 0);
  for (const code of ['INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE', 'UNAUTHENTICATED']) errors.inc({ code }, 0);
  const countError = (code: string) => {
    if (!codes.has(code)) {
      if (codes.size < MAX_ERROR_CODES) codes.add(code);
      else code = 'OTHER';
    }
    errors.inc({ code });
  };

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
      duration.observe({ transport, type, operation }, seconds);
      live.operation(seconds * 1000, outcome === 'error');
    },
    /** A GraphQL error as a client receives it (formatted), on either transport: counted by its code. */
    errorSent(code: unknown) {
      countError(typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR');
    },
    httpRequest(method: string, route: string, status: number, seconds: number) {
      httpDuration.observe({ method, route, status }, seconds);
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
      jobRuns.inc({ queue: job, outcome });
      jobDuration.observe({ queue: job }, seconds);
    },
    /**
     * A gauge read at each scrape (queue sizes, dependency and pool state): `read` answers each
     * series' labels and value. If reading fails, the scrape still succeeds with the last values.
     */
    gaugeOnScrape<L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Promise<[Record<L, string>, number][]>) {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          let series: [Record<L, string>, number][];
          try {
            // A read that hangs (packets dropped on the way to PostgreSQL) must not hang the whole
            // scrape: every series, parley_dependency_up among them, would vanish with it.
            series = await withTimeout(read(), SCRAPE_READ_TIMEOUT_MS);
          } catch {
            // PostgreSQL is away: keep the last values rather than fail the whole scrape.
            return;
          }
          this.reset();
          for (const [labels, value] of series) this.set(labels, value);
        },
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
