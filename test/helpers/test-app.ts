import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Client } from 'pg';
import { createApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';

export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret!';

export interface TestApp extends App {
  config: Config;
  /** `ws://…/graphql` */
  wsUrl: string;
  /** Every SQL statement the app ran, in order; clear it between measurements. */
  queries: string[];
  /** Every round trip of the lean reads and writes, with the statements it carried; clear it as `queries`. */
  roundTrips: string[][];
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
}

/**
 * Starts Parley on port 0 against the machine's PostgreSQL and Redis, in a PostgreSQL schema and a
 * Redis key prefix of its own, so test files never see each other's rows or events. `stop()` stops
 * the app and drops the schema. Pass `REDIS_URL: ''` for single-instance (in-process) mode.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const schema = env.DATABASE_SCHEMA ?? `test_${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    // Every test client calls from 127.0.0.1: with limits on, unrelated tests would share one budget.
    // test/integration/rate-limits.test.ts turns them on.
    RATE_LIMITS: 'off',
    // The same reason: every test socket comes from 127.0.0.1, often as one user. The tests of the
    // connection caps set their own.
    WS_MAX_CONNECTIONS_PER_USER: '1000',
    WS_MAX_CONNECTIONS_PER_ADDRESS: '10000',
    // A busy test machine may keep a statement waiting for a pooled connection longer than
    // production's 500 ms; the tests of overload set their own.
    DATABASE_POOL_QUEUE_TIMEOUT: '5s',
    // Two workers, several apps per file and pg-boss's own pools stay well inside PostgreSQL's 100
    // connections, with room for `npm run bench` beside the suite.
    DATABASE_POOL_MAX: '4',
    // Production wants METRICS_TOKEN (config.test.ts checks that); test apps listen on loopback only.
    ...(env.NODE_ENV === 'production' && !env.METRICS_TOKEN ? { METRICS_PUBLIC: 'true' } : {}),
    ...env,
    DATABASE_SCHEMA: schema,
    // Jobs of this file's apps stay in this file's apps: pg-boss gets a schema of the file's own too.
    JOBS_SCHEMA: `${schema}_jobs`,
    REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX ?? `test:${schema}:`,
  });
  const queries: string[] = [];
  const roundTrips: string[][] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  let app: App;
  try {
    app = await createApp(config, { logger: pino({ level: config.log.level }, sink), onQuery: (sql) => queries.push(sql), onRoundTrip: (statements) => roundTrips.push(statements) });
  } catch (error) {
    // A refused start-up (a test of one) leaves no schema behind.
    if (!env.DATABASE_SCHEMA) await dropSchema(config.database.url ?? TEST_DATABASE_URL, schema);
    throw error;
  }
  await app.start();
  let stopped: Promise<void> | undefined;
  return {
    config,
    queries,
    roundTrips,
    logs,
    url: app.url,
    instanceId: app.instanceId,
    wsUrl: app.url.replace(/^http/, 'ws'),
    services: app.services,
    bus: app.bus,
    start: app.start,
    stop: () =>
      (stopped ??= (async () => {
        await app.stop();
        if (!env.DATABASE_SCHEMA) await dropSchema(config.database.url ?? TEST_DATABASE_URL, schema);
      })()),
  };
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.query(`DROP SCHEMA IF EXISTS "${schema}_jobs" CASCADE`);
  } finally {
    await client.end();
  }
}
