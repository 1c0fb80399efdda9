import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionResult } from 'graphql';
import { metricsRollupJob } from '../../src/jobs/metrics-rollup.job';
import { fromGlobalId } from '../../src/pagination/global-id';
import { emptyBuckets, bucketOf } from '../../src/observability/latency-buckets';
import { openConversation, sendMessage, type Member } from '../factories/chat.factory';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { expectEventually } from '../helpers/expect-eventually';
import { operation } from '../helpers/operations';
import { startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

const METRICS_TOKEN = 'prometheus-scrape-token-1';
let a: TestApp;
let b: TestApp;
let admin: Member;
let someone: Member;
const clients: TestWsClient[] = [];

const SNAPSHOT = `{ metrics { at instances connectedClients activeSubscriptions onlineUsers messagesPerMinute requestsPerSecond p95LatencyMs errorsPerMinute } }`;

beforeAll(async () => {
  a = await startTestApp();
  b = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix, METRICS_TOKEN: METRICS_TOKEN });
  [admin, someone] = await Promise.all([createUser(a), createUser(a)]);
  // The first ADMIN is made from the command line, as an operator would.
  await promisify(execFile)(process.execPath, [path.resolve(__dirname, '../../dist/scripts/grant-admin.js'), admin.user.handle], {
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: a.config.database.schema, LOG_LEVEL: 'silent' },
  });
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await b.stop();
  await a.stop();
});

function connect(app: TestApp, member: Member): TestWsClient {
  const client = connectWs(app.wsUrl, { token: member.token });
  clients.push(client);
  return client;
}

const metricsUrl = (app: TestApp) => app.url.replace(/\/graphql$/, '/metrics');

describe('live cluster metrics', () => {
  it('adds up both instances: instances, sockets, subscriptions and online users', async () => {
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const sockets = [connect(a, ada), connect(a, bob), connect(b, bob)];
    await Promise.all(sockets.map((s) => s.connected));
    sockets[2].subscribe(operation('ConversationEvents'), { conversationId: id, afterSeq: 2 });
    await expectEventually(async () => {
      const response = await gql<any>(b, SNAPSHOT, {}, { token: admin.token });
      expect(response.data.metrics).toMatchObject({ instances: 2, connectedClients: 3, activeSubscriptions: 1, onlineUsers: 2 });
    });
  });

  it('counts messages sent anywhere in the cluster per minute', async () => {
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const before = (await gql<any>(a, SNAPSHOT, {}, { token: admin.token })).data.metrics.messagesPerMinute;
    for (const app of [a, b, b]) await sendMessage(app, ada, id, 'counted');
    await expectEventually(async () => {
      expect((await gql<any>(a, SNAPSHOT, {}, { token: admin.token })).data.metrics.messagesPerMinute).toBeGreaterThanOrEqual(before + 3);
    });
  });

  it('refuses anyone but an ADMIN with FORBIDDEN, on every metrics operation', async () => {
    expect(errorCodes(await gql(a, SNAPSHOT, {}, { token: someone.token }))).toEqual(['FORBIDDEN']);
    const history = await gql(a, `{ metricsHistory(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { at } }`, {}, { token: someone.token });
    expect(errorCodes(history)).toEqual(['FORBIDDEN']);
    const result = await connect(a, someone).subscribe(`subscription { metrics { instances } }`).next();
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('computes the metrics subscription once per interval for all its subscribers', async () => {
    const followers = [connect(a, admin), connect(a, admin), connect(a, admin)].map((c) => c.subscribe(`subscription { metrics(intervalSeconds: 1) { at instances } }`));
    const snapshots = async () => Promise.all(followers.map(async (f) => ((await f.next()) as ExecutionResult<{ metrics: { at: string } }>).data!.metrics.at));
    await snapshots(); // the first may be the last one computed before a follower joined
    for (let tick = 0; tick < 2; tick++) expect(new Set(await snapshots()).size).toBe(1);
    followers.forEach((f) => f.unsubscribe());
  });
});

describe('Prometheus', () => {
  it('serves /metrics as Prometheus text whose counters move with traffic', async () => {
    const scrape = async () => {
      const response = await fetch(metricsUrl(a));
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      const invalid = text.split('\n').filter((line) => line && !line.startsWith('#') && !/^[a-zA-Z_:][\w:]*(\{([a-zA-Z_]\w*="(\\.|[^"\\])*",?)*\})? -?(\d+(\.\d+)?(e[+-]?\d+)?|NaN|\+Inf|-Inf)$/.test(line));
      expect(invalid).toEqual([]);
      return text;
    };
    const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const series = 'parley_graphql_operations_total{transport="http",type="query",operation="Me",outcome="ok"}';
    const before = await scrape();
    for (let i = 0; i < 3; i++) await runOperation(a, 'Me', {}, { token: someone.token });
    const after = await scrape();
    expect(value(after, series) - value(before, series)).toBe(3);
    for (const name of ['process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'parley_ws_connections', 'parley_events_published_total', 'parley_job_runs_total']) {
      expect(after).toContain(`# TYPE ${name}`);
    }
  });

  it('wants the bearer token when METRICS_TOKEN is set', async () => {
    expect((await fetch(metricsUrl(b))).status).toBe(401);
    expect((await fetch(metricsUrl(b), { headers: { authorization: 'Bearer not-the-token-at-all' } })).status).toBe(401);
    const scraped = await fetch(metricsUrl(b), { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('# TYPE parley_ws_connections');
  });
});

describe('metrics that the dashboard, the alert rules and the operations guide name', () => {
  const read = (file: string) => readFileSync(path.resolve(__dirname, '../..', file), 'utf8');
  /** Parley's and Node's metric names in a text (Prometheus's own `up` aside), histograms by their base name. */
  const namesIn = (text: string) => new Set([...text.matchAll(/\b(?:parley|process|nodejs)_\w+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, '')));

  it('all exist, and the new ones have series after traffic: HTTP and operation latency by name, errors by code, dependencies, pools', async () => {
    const dashboard = JSON.parse(read('deploy/grafana/parley-dashboard.json')) as { panels: { targets: { expr: string }[] }[] };
    const named = new Set([
      ...namesIn(dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n')),
      ...namesIn(read('deploy/prometheus/alerts.yml')),
      ...namesIn(read('docs/operations.md')),
    ]);
    expect(named.size).toBeGreaterThan(20);

    // Traffic: a named query, a refused one, a request that is not GraphQL.
    await runOperation(a, 'Me', {}, { token: someone.token });
    expect(errorCodes(await gql(a, '{ me { id } }', {}, { token: 'not-a-token' }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await gql(a, 'query Broken { me { nope } }', {}, { token: someone.token }))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    await fetch(a.url.replace(/\/graphql$/, '/readyz'));
    // Refused before Apollo saw it (a body that is not JSON): counted by its code too.
    expect((await fetch(a.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' })).status).toBe(400);
    const text = await (await fetch(metricsUrl(a))).text();

    const missing = [...named].filter((name) => !text.includes(`# TYPE ${name} `));
    expect(missing).toEqual([]);
    const sample = (pattern: RegExp) => expect(text).toMatch(pattern);
    sample(/^parley_http_request_duration_seconds_count\{method="POST",route="\/graphql",status="200"\} [1-9]/m);
    sample(/^parley_http_request_duration_seconds_count\{method="GET",route="\/readyz",status="200"\} [1-9]/m);
    sample(/^parley_graphql_operation_duration_seconds_count\{transport="http",type="query",operation="Me"\} [1-9]/m);
    sample(/^parley_graphql_errors_total\{code="UNAUTHENTICATED"\} [1-9]/m);
    sample(/^parley_graphql_errors_total\{code="GRAPHQL_VALIDATION_FAILED"\} [1-9]/m);
    sample(/^parley_graphql_errors_total\{code="BAD_REQUEST"\} [1-9]/m);
    // Series that alerts take an increase() of exist from the start.
    sample(/^parley_webhook_attempts_total\{outcome="dead"\} 0$/m);
    sample(/^parley_dependency_up\{dependency="database"\} 1$/m);
    sample(/^parley_dependency_up\{dependency="redis"\} 1$/m);
    sample(/^parley_db_pool_connections\{pool="primary",state="max"\} 4$/m);
    sample(/^parley_db_pool_connections\{pool="primary",state="open"\} [1-9]/m);
    sample(/^parley_db_pool_connections\{pool="primary",state="waiting"\} 0$/m);
    sample(/^parley_db_pool_connections\{pool="webhooks",state="max"\} 2$/m);
  });

  it('keep their labels few whatever a client sends: odd methods count as other, unknown paths as their route, never the raw URL', async () => {
    const base = a.url.replace(/\/graphql$/, '');
    // A method llhttp parses but the metrics do not name, and paths a scanner would try.
    const odd = await fetch(`${base}/graphql`, { method: 'PROPFIND' });
    expect(odd.status).toBeGreaterThanOrEqual(400);
    expect(odd.status).toBeLessThan(500);
    for (const suffix of ['/wp-login.php', '/.env', `/graphql/${'x'.repeat(40)}`, '/metrics/../etc/passwd']) await fetch(`${base}${suffix}`);
    const text = await (await fetch(metricsUrl(a))).text();
    const series = [...text.matchAll(/^parley_http_request_duration_seconds_count\{method="([^"]*)",route="([^"]*)",status="\d+"\} \d+$/gm)];
    expect(series.length).toBeGreaterThan(0);
    const methods = new Set(series.map(([, method]) => method));
    const routes = new Set(series.map(([, , route]) => route));
    expect(methods).toContain('other');
    expect([...methods].every((method) => ['GET', 'POST', 'OPTIONS', 'HEAD', 'other'].includes(method))).toBe(true);
    expect(routes).toContain('other');
    for (const raw of ['/wp-login.php', '/.env', 'passwd', 'xxxxxxxx']) expect([...routes].some((route) => route.includes(raw))).toBe(false);
  });

  it('log each request once it is over, with its request id, status and operation name', async () => {
    const logged = a.logs.length;
    const response = await fetch(a.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${someone.token}`, 'x-request-id': 'req-log-line-1' },
      body: JSON.stringify({ query: 'query WhoAmI { me { id } }', operationName: 'WhoAmI' }),
    });
    expect(response.headers.get('x-request-id')).toBe('req-log-line-1');
    await expectEventually(() =>
      expect(a.logs.slice(logged)).toContainEqual(
        expect.objectContaining({ msg: 'request', component: 'http', requestId: 'req-log-line-1', method: 'POST', path: '/graphql', status: 200, operation: 'WhoAmI', ms: expect.any(Number) }),
      ),
    );
    // Every response carries an id, GraphQL or not.
    expect((await fetch(a.url.replace(/\/graphql$/, '/healthz'))).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('metrics history', () => {
  it('rolls each minute up from every instance’s figures, and serves the samples to an ADMIN', async () => {
    const minute = new Date('2026-05-04T10:20:00Z');
    const bucketsA = emptyBuckets();
    bucketsA[bucketOf(4)] = 90;
    const bucketsB = emptyBuckets();
    bucketsB[bucketOf(80)] = 10;
    for (const [instance, requests, errors, buckets] of [['a', 90, 1, bucketsA], ['b', 10, 2, bucketsB]] as const) {
      await a.services.dataSource.query(`INSERT INTO metric_instance_minutes (minute, instance_id, requests, errors, latency_buckets) VALUES ($1, $2, $3, $4, $5)`, [
        minute,
        instance,
        requests,
        errors,
        buckets,
      ]);
    }
    const [ada, bob] = await Promise.all([createUser(a), createUser(a)]);
    const id = await openConversation(a, [ada, bob]);
    const inMinute = [await sendMessage(a, ada, id, 'in the minute'), await sendMessage(a, bob, id, 'also')];
    await sendMessage(a, bob, id, 'later');
    await a.services.dataSource.query(`UPDATE messages SET created_at = $1 WHERE id = ANY($2::uuid[])`, [
      new Date(minute.getTime() + 30_000),
      inMinute.map((m) => fromGlobalId(m.id).id),
    ]);
    await metricsRollupJob.run({ dataSource: a.services.dataSource, sql: a.services.sql, bus: a.services.bus, logger: a.services.logger, config: a.config }, {}, {
      now: () => new Date(minute.getTime() + 2 * 60_000),
      lastAttempt: false,
    });
    const history = await gql<any>(a, `query ($from: DateTime!, $to: DateTime!) { metricsHistory(from: $from, to: $to) { at messages requests errors activeUsers p95LatencyMs } }`, {
      from: minute.toISOString(),
      to: new Date(minute.getTime() + 60_000).toISOString(),
    }, { token: admin.token });
    expect(history.data.metricsHistory).toEqual([{ at: minute.toISOString(), messages: 2, requests: 100, errors: 3, activeUsers: 2, p95LatencyMs: 75 }]);
    const refused = await gql(a, `{ metricsHistory(from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z") { at } }`, {}, { token: admin.token });
    expect(errorCodes(refused)).toEqual(['BAD_USER_INPUT']);
  });
});
