import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, ROOT, SERVER_NODE_OPTIONS, startNodeServer, type NodeServer } from './lib/node-server';

/**
 * `npm run cluster`: the scale-out topology of deploy/docker-compose.yml on this machine without
 * Docker — Parley instances on PostgreSQL + Redis behind Debian's nginx on loopback, with the nginx
 * rules of deploy/nginx/parley-locations.conf. Used by the failover tests too.
 */

export interface ClusterOptions {
  databaseUrl: string;
  redisUrl: string;
  /** nginx's port (0: any free port). */
  port?: number;
  instances?: number;
  /** Extra environment of every instance (DATABASE_SCHEMA, PERSISTED_QUERIES, …). */
  env?: Record<string, string>;
  /** Extra environment of instance `i` (after `env`). */
  instanceEnv?: Record<string, string>[];
  /** Where nginx's configuration, pid and logs go. */
  workDir?: string;
  /** Node options of every instance (default SERVER_NODE_OPTIONS, as production runs it). */
  nodeOptions?: string[];
}

export interface Instance {
  name: string;
  server: NodeServer;
  /** `http://127.0.0.1:<port>/graphql`, bypassing nginx. */
  url: string;
}

export interface Cluster {
  /** `http://127.0.0.1:<port>/graphql` through nginx. */
  url: string;
  instances: Instance[];
  /** nginx's master process (its worker is a child). */
  nginxPid: number;
  /** Starts instance `index` again (after a stop or kill) on its port. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

function nginxConfig(workDir: string, port: number, upstreamPorts: number[]): string {
  const locations = path.join(ROOT, 'deploy/nginx/parley-locations.conf');
  return `# Written by npm run cluster; the proxy rules are ${locations}.
daemon off;
worker_processes 1;
pid ${workDir}/nginx.pid;
error_log ${workDir}/error.log warn;
events {
    worker_connections 20000;
}
# A graceful quit waits for open connections; do not wait for idle WebSockets for ever.
worker_shutdown_timeout 10s;
http {
    access_log off;
    client_body_temp_path ${workDir}/client_body;
    proxy_temp_path ${workDir}/proxy;
    fastcgi_temp_path ${workDir}/fastcgi;
    uwsgi_temp_path ${workDir}/uwsgi;
    scgi_temp_path ${workDir}/scgi;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      '';
    }
    upstream parley {
        least_conn;
${upstreamPorts.map((p) => `        server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n')}
        keepalive 32;
        keepalive_timeout 4s;
    }
    server {
        listen 127.0.0.1:${port};
        client_max_body_size 1m;
        include ${locations};
    }
}
`;
}

async function startNginx(workDir: string, config: string, port: number): Promise<ChildProcess> {
  if (!existsSync(NGINX)) throw new Error(`No nginx at ${NGINX}: apt-get install -y nginx (or set NGINX_PATH)`);
  const file = path.join(workDir, 'nginx.conf');
  writeFileSync(file, config);
  const check = spawnSync(NGINX, ['-t', '-q', '-c', file, '-p', workDir], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx refused ${file}:\n${check.stderr}`);
  const child = spawn(NGINX, ['-c', file, '-p', workDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errors}${readFileSync(path.join(workDir, 'error.log'), 'utf8').slice(-2_000)}`);
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`);
      return child;
    } catch {
      if (waited > 10_000) throw new Error(`nginx did not listen on ${port}: ${errors}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const count = options.instances ?? 2;
  const workDir = options.workDir ?? path.join(ROOT, '.data/cluster');
  for (const dir of ['', 'client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(workDir, dir), { recursive: true });
  const port = options.port || (await freePort());
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const env = (index: number): Record<string, string> => ({
    NODE_ENV: 'production',
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    // Every instance must sign and check tokens with the same key.
    JWT_SECRET: sharedSecret(workDir),
    PERSISTED_QUERIES: 'apq',
    // nginx on loopback is the one proxy whose X-Forwarded-For is believed.
    TRUST_PROXY: 'loopback',
    // The instances listen on loopback and nginx answers 404 for /metrics: only this machine scrapes.
    METRICS_PUBLIC: 'true',
    LOG_LEVEL: 'warn',
    ...options.env,
    ...options.instanceEnv?.[index],
  });
  const main = path.join(ROOT, 'dist/src/main.js');
  const nodeOptions = options.nodeOptions ?? SERVER_NODE_OPTIONS;
  const instances: Instance[] = [];
  let nginx: ChildProcess | undefined;
  const stop = async () => {
    // Instances first: they close their WebSockets with 1001, which lets nginx's graceful quit end.
    await Promise.all(instances.map((instance) => instance.server.stop()));
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx!.once('exit', resolve));
      nginx.kill('SIGQUIT');
      await exited;
    }
  };
  try {
    // The first instance runs the migrations before the others start.
    for (const [index, instancePort] of ports.entries()) {
      const server = await startNodeServer(main, env(index), instancePort, nodeOptions);
      instances.push({ name: `parley-${index + 1}`, server, url: `${server.base}/graphql` });
    }
    nginx = await startNginx(workDir, nginxConfig(workDir, port, ports), port);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    instances,
    nginxPid: nginx.pid!,
    async restart(index) {
      const server = await startNodeServer(main, env(index), ports[index], nodeOptions);
      instances[index] = { ...instances[index], server, url: `${server.base}/graphql` };
    },
    stop,
  };
}

/** A JWT secret for this cluster's instances, kept in the work directory so restarts keep sessions. */
function sharedSecret(workDir: string): string {
  if (process.env.JWT_SECRET) return process.env.JWT_SECRET;
  const file = path.join(workDir, 'jwt-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) {
    console.error('npm run cluster needs a real PostgreSQL and Redis: set DATABASE_URL and REDIS_URL (for example postgres://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379).');
    process.exit(78);
  }
  const cluster = await startCluster({ databaseUrl, redisUrl, port: Number(process.env.CLUSTER_PORT ?? 8080), instances: Number(process.env.CLUSTER_INSTANCES ?? 2) });
  const base = cluster.url.replace(/\/graphql$/, '');
  console.log(
    [
      '',
      `Parley cluster: ${cluster.instances.length} instances behind nginx`,
      `  through nginx   ${cluster.url}  (demo ${base}/demo, dashboard ${base}/dashboard)`,
      ...cluster.instances.map((i) => `  ${i.name.padEnd(14)}  ${i.url}  (pid ${i.server.child.pid})`),
      '',
      'Stop one with kill <pid> and watch clients move to the other; Ctrl-C stops all.',
      '',
    ].join('\n'),
  );
  const shutdown = () => void cluster.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
