import { readdirSync, readFileSync } from 'node:fs';
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

/** The fields of /proc/<pid>/stat after the command name: [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. */
function statOf(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(') ') + 2).split(' ');
}

/** utime + stime of a process from /proc (Linux), in seconds. */
export function cpuSecondsOf(pid: number): number {
  const fields = statOf(pid);
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

interface ProcessEntry {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number;
}

function processes(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = statOf(Number(name));
      entries.push({ pid: Number(name), ppid: Number(fields[1]), comm: readFileSync(`/proc/${name}/comm`, 'utf8').trim(), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) });
    } catch {
      // exited while listed
    }
  }
  return entries;
}

/**
 * CPU time of the processes `roots` pick and all their descendants, in seconds: each living
 * process's own time plus its reaped children's (cutime, cstime), so a child that exits between two
 * readings moves into its parent's count and is counted once.
 */
function treeCpuSeconds(isRoot: (entry: ProcessEntry, parent: ProcessEntry | undefined) => boolean): number {
  const all = processes();
  const byPid = new Map(all.map((entry) => [entry.pid, entry]));
  const inTree = new Set(all.filter((entry) => isRoot(entry, byPid.get(entry.ppid))).map((entry) => entry.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const entry of all) {
      if (inTree.has(entry.pid) || !inTree.has(entry.ppid)) continue;
      inTree.add(entry.pid);
      grew = true;
    }
  }
  let ticks = 0;
  for (const pid of inTree) ticks += byPid.get(pid)!.ticks;
  return ticks / TICKS_PER_SECOND;
}

/** A process and its descendants (nginx's master and workers), in CPU seconds. */
export const processTreeCpuSeconds = (pid: number) => treeCpuSeconds((entry) => entry.pid === pid);

/** Every PostgreSQL server on this machine (postmasters, backends, background workers), in CPU seconds. */
export const postgresCpuSeconds = () => treeCpuSeconds((entry, parent) => entry.comm === 'postgres' && parent?.comm !== 'postgres');

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

/** The environment of a benchmarked Parley: production, limits off so the load is not refused. */
export function parleyEnv({ databaseUrl, schema, redisUrl, redisPrefix, extra = {} }: ParleyEnv): Record<string, string> {
  return {
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
  };
}

/** As production runs it; BENCH_PROFILE_DIR=<dir> writes a CPU profile of each Parley process there (open it in Chrome DevTools). */
export const parleyNodeOptions = () => [...SERVER_NODE_OPTIONS, ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [])];

/** Parley as production runs it: one Node process, NODE_ENV=production; limits off so the load is not refused. */
export async function startParley(env: ParleyEnv): Promise<ServerProcess> {
  return startProcess(path.join(ROOT, 'dist/src/main.js'), parleyEnv(env), await freePort(), parleyNodeOptions());
}
