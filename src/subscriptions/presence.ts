import type { Redis } from 'ioredis';

/**
 * Who is online: a user with at least one open, authenticated WebSocket on any instance. Counts are
 * kept per instance; in cluster mode each instance also keeps a heartbeat entry per user in Redis,
 * so the presence of an instance that dies without cleaning up expires on its own after `ttlMs`.
 */
export interface PresenceStore {
  /** A socket of this user opened here. Resolves true when the user was offline on this instance. */
  connected(userId: string): Promise<boolean>;
  /** A socket of this user closed here. Resolves true when it was the user's last one on this instance. */
  disconnected(userId: string): Promise<boolean>;
  /** The subset of `userIds` online anywhere in the cluster. */
  online(userIds: readonly string[]): Promise<Set<string>>;
  dispose(): Promise<void>;
}

class LocalCounts {
  private readonly counts = new Map<string, number>();

  add(userId: string): boolean {
    const count = (this.counts.get(userId) ?? 0) + 1;
    this.counts.set(userId, count);
    return count === 1;
  }

  remove(userId: string): boolean {
    const count = (this.counts.get(userId) ?? 0) - 1;
    if (count > 0) this.counts.set(userId, count);
    else this.counts.delete(userId);
    return count <= 0;
  }

  has(userId: string): boolean {
    return this.counts.has(userId);
  }

  users(): string[] {
    return [...this.counts.keys()];
  }
}

export function createInProcessPresence(): PresenceStore {
  const local = new LocalCounts();
  return {
    connected: async (userId) => local.add(userId),
    disconnected: async (userId) => local.remove(userId),
    online: async (userIds) => new Set(userIds.filter((id) => local.has(id))),
    dispose: async () => undefined,
  };
}

export interface RedisPresenceOptions {
  redis: Redis;
  keyPrefix: string;
  instanceId: string;
  /** How long an instance's entry outlives its last heartbeat, in ms. Heartbeats run every ttlMs / 3. */
  ttlMs?: number;
  now?: () => number;
}

/** Hash `<prefix>presence:<userId>`: field = instance id, value = expiry time (ms since epoch). */
export function createRedisPresence({ redis, keyPrefix, instanceId, ttlMs = 60_000, now = Date.now }: RedisPresenceOptions): PresenceStore {
  const local = new LocalCounts();
  const key = (userId: string) => `${keyPrefix}presence:${userId}`;
  const refresh = (userIds: string[]) => {
    if (userIds.length === 0) return Promise.resolve();
    const pipeline = redis.pipeline();
    const expiresAt = now() + ttlMs;
    for (const userId of userIds) pipeline.hset(key(userId), instanceId, expiresAt).pexpire(key(userId), ttlMs);
    return pipeline.exec().then(() => undefined);
  };
  const heartbeat = setInterval(() => {
    refresh(local.users()).catch(() => undefined); // Redis down: entries expire, and the next beat restores them
  }, Math.floor(ttlMs / 3));
  heartbeat.unref();

  return {
    async connected(userId) {
      const first = local.add(userId);
      await refresh([userId]);
      return first;
    },
    async disconnected(userId) {
      const last = local.remove(userId);
      if (last) await redis.hdel(key(userId), instanceId);
      return last;
    },
    async online(userIds) {
      if (userIds.length === 0) return new Set();
      const pipeline = redis.pipeline();
      for (const userId of userIds) pipeline.hvals(key(userId));
      const results = (await pipeline.exec()) ?? [];
      const at = now();
      return new Set(
        userIds.filter((_, i) => {
          const [error, expiries] = results[i] ?? [];
          return !error && (expiries as string[]).some((expiry) => Number(expiry) > at);
        }),
      );
    },
    async dispose() {
      clearInterval(heartbeat);
      const users = local.users();
      if (users.length === 0) return;
      const pipeline = redis.pipeline();
      for (const userId of users) pipeline.hdel(key(userId), instanceId);
      await pipeline.exec();
    },
  };
}
