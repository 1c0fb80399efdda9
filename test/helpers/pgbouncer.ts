import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../scripts/lib/node-server';
import { expectEventually } from './expect-eventually';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  port: number;
  /** A client URL for one of its databases. */
  url(database: string): string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Where its server connections go. */
  host: string;
  port: number;
  /** The PostgreSQL database behind every entry. */
  dbname: string;
  user: string;
  /** Its database entries: the schema each puts first on the search_path (connect_query), or none. */
  databases: Record<string, { searchPath?: string }>;
}

/**
 * Debian's PgBouncer in transaction mode on a free port, as docs/operations.md configures it: no
 * startup `options` (it refuses them), the search_path set by each entry's connect_query, and
 * short waits so an unreachable PostgreSQL is an error within seconds. It refuses to run as root,
 * so as root it runs as `postgres` (`-u`).
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const entries = Object.entries(options.databases).map(([name, { searchPath }]) => {
    const connectQuery = searchPath ? ` connect_query='SET search_path TO "${searchPath}"'` : '';
    return `${name} = host=${options.host} port=${options.port} dbname=${options.dbname}${connectQuery}`;
  });
  writeFileSync(path.join(dir, 'users.txt'), `"${options.user}" ""\n`);
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      ...entries,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      'default_pool_size = 20',
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits',
      'server_connect_timeout = 2',
      'query_wait_timeout = 3',
      'server_login_retry = 1',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr = (stderr + String(chunk)).slice(-4_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await expectEventually(
      () =>
        new Promise<void>((resolve, reject) => {
          if (child.exitCode !== null) return reject(new Error(`pgbouncer exited: ${stderr}`));
          const socket = createConnection(port, '127.0.0.1');
          socket.once('connect', () => resolve(void socket.destroy())).once('error', reject);
        }),
      { timeoutMs: 10_000 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url: (database) => `postgres://${options.user}@127.0.0.1:${port}/${database}`, stop };
}
