import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, ROOT, SERVER_NODE_OPTIONS, startNodeServer } from '../../scripts/lib/node-server';

export { freePort, ROOT };
export const BENCH_SECRET = 'benchmark-secret-benchmark-secret!';

export interface ServerProcess {
  url: string;
  pid: number;
  /** Asks the process for a full garbage collection (see gc-on-signal.ts). */
  collectGarbage(): void;
  /** CPU time the process has used so far (user + system), in seconds. */
  cpuSeconds(): number;
  /** Resident set size now, in bytes. */
  rssBytes(): number;
  /** GET /metrics of the process. */
  scrape(): Promise<string>;
  stop(): Promise<void>;
}

const TICKS_PER_SECOND = 100;

/** utime + stime of a process from /proc (Linux), in seconds. */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function rssBytesOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

/**
 * Starts a Node process: Parley's built server (`dist/src/main.js`, production mode) with `env`, or
 * another script (with another Node if `execPath` says so), preloaded with gc-on-signal. Resolves
 * once `/readyz` answers.
 */
export async function startProcess(script: string, env: Record<string, string>, port: number, nodeArgs: string[] = [], execPath?: string): Promise<ServerProcess> {
  const server = await startNodeServer(script, env, port, ['--expose-gc', '--require', path.join(ROOT, 'dist/bench/lib/gc-on-signal.js'), ...nodeArgs], execPath);
  const pid = server.child.pid!;
  return {
    url: `${server.base}/graphql`,
    pid,
    collectGarbage: () => server.child.kill('SIGUSR2'),
    cpuSeconds: () => cpuSecondsOf(pid),
    rssBytes: () => rssBytesOf(pid),
    scrape: async () => (await fetch(`${server.base}/metrics`)).text(),
    stop: server.stop,
  };
}

export interface ParleyEnv {
  databaseUrl: string;
  schema: string;
  redisUrl?: string;
  redisPrefix?: string;
  extra?: Record<string, string>;
}

/** Parley as production runs it: one Node process, NODE_ENV=production; limits off so the load is not refused. */
export async function startParley({ databaseUrl, schema, redisUrl, redisPrefix, extra = {} }: ParleyEnv): Promise<ServerProcess> {
  return startProcess(
    path.join(ROOT, 'dist/src/main.js'),
    {
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: schema,
      JOBS_SCHEMA: `${schema}_jobs`,
      JWT_SECRET: BENCH_SECRET,
      PERSISTED_QUERIES: 'off',
      RATE_LIMITS: 'off',
      // On loopback, scraped by the bench itself.
      METRICS_PUBLIC: 'true',
      LOG_LEVEL: 'warn',
      WS_MAX_SUBSCRIPTIONS: '1000',
      // Every simulated client connects from this machine's one address, many as the same user.
      WS_MAX_CONNECTIONS_PER_USER: '100000',
      WS_MAX_CONNECTIONS_PER_ADDRESS: '100000',
      WS_SUBSCRIBE_RATE: '1000',
      ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redisPrefix ?? `bench:${schema}:` } : {}),
      ...extra,
    },
    await freePort(),
    // As production runs it; BENCH_PROFILE_DIR=<dir> writes a CPU profile of each Parley process there (open it in Chrome DevTools).
    [...SERVER_NODE_OPTIONS, ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [])],
  );
}
