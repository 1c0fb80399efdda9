import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/node-server';
import { expectEventually } from './expect-eventually';

export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';

export interface RedisClusterNode {
  port: number;
  process: ChildProcess;
}

export interface TestRedisCluster {
  /** `127.0.0.1:port,…` of every node, as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<RedisClusterNode>;
  /** Kills a node (SIGKILL: no goodbye to the cluster). */
  kill(node: RedisClusterNode): Promise<void>;
  /** Resolves once every live node says the cluster is ok, `key`'s slot has a live master, and (with `replicated`) every master has a replica in sync. */
  healthy(options?: { key?: string; replicated?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of Debian's redis-server: `masters` masters and one replica each, on free
 * ports, created with `redis-cli --cluster create`; a short node timeout, so a killed master's
 * replica takes over within seconds. `stop()` kills every node and removes their files.
 */
export async function startRedisCluster({ masters = 3 }: { masters?: number } = {}): Promise<TestRedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-redis-cluster-'));
  const ports = await Promise.all(Array.from({ length: masters * 2 }, () => freePort()));
  const nodes: RedisClusterNode[] = ports.map((port) => ({
    port,
    process: spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1500', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    ),
  }));
  const exits = new Map(nodes.map((node) => [node, new Promise<void>((resolve) => node.process.once('exit', () => resolve()))]));
  const client = (port: number) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const ask = async <T>(port: number, work: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = client(port);
    try {
      await redis.connect();
      return await work(redis);
    } finally {
      redis.disconnect();
    }
  };
  const live = () => nodes.filter((node) => node.process.exitCode === null && node.process.signalCode === null);

  const cluster: TestRedisCluster = {
    nodes: ports.map((port) => `127.0.0.1:${port}`).join(','),
    async masterOf(key) {
      const [node] = live();
      const slot = await ask(node.port, (redis) => redis.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
      const ranges = (await ask(node.port, (redis) => redis.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
      return nodes.find((n) => n.port === range[2][1])!;
    },
    async kill(node) {
      node.process.kill('SIGKILL');
      await exits.get(node);
    },
    async healthy({ key, replicated = false } = {}) {
      await expectEventually(
        async () => {
          for (const node of live()) {
            expect(await ask(node.port, (redis) => redis.call('CLUSTER', 'INFO') as Promise<string>)).toContain('cluster_state:ok');
            const replication = await ask(node.port, (redis) => redis.info('replication'));
            if (replicated && replication.includes('role:master')) expect(replication).toMatch(/slave0:.*state=online/);
          }
          if (key) expect(live()).toContain(await cluster.masterOf(key));
        },
        { timeoutMs: 30_000 },
      );
    },
    async stop() {
      for (const node of live()) node.process.kill('SIGKILL');
      await Promise.all(exits.values());
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await expectEventually(() => Promise.all(ports.map((port) => ask(port, (redis) => redis.ping()))), { timeoutMs: 10_000 });
    await promisify(execFile)(REDIS_CLI, ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await cluster.healthy({ replicated: true });
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
