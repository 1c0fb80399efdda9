import type { Cluster, Redis } from 'ioredis';

/**
 * Who is online: a user with at least one open, authenticated WebSocket on any instance. Counts
 * are kept per instance; in cluster mode each instance also keeps a heartbeat entry per user in
 * Redis, so the users of an instance that dies without cleaning up go offline after `ttlMs`.
 */
export interface PresenceStore {
  /** A socket of this user opened here. Resolves true when the user was offline everywhere until now. */
  connected(userId: string): Promise<boolean>;
  /** A socket of this user closed here. Resolves true when the user is now offline everywhere. */
  disconnected(userId: string): Promise<boolean>;
  /** The subset of `userIds` online anywhere in the cluster. */
  online(userIds: readonly string[]): Promise<Set<string>>;
  /** How many users are online anywhere in the cluster. */
  count(): Promise<number>;
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
    count: async () => local.users().length,
    dispose: async () => undefined,
  };
}

/**
 * Lua, shared head: counts the entries of other instances that have not expired. KEYS: user hash,
 * instance set, set of online users (kept for counting: a user is in it while some instance holds them).
 */
const COUNT_OTHERS = `
local others = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] and tonumber(entries[i + 1]) > tonumber(ARGV[3]) then others = others + 1 end
end`;
/** ARGV: instance, user, now, expiresAt, ttlMs, instanceSetTtlMs. */
const JOIN = `${COUNT_OTHERS}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('SADD', KEYS[3], ARGV[2])
return others`;
const LEAVE = `${COUNT_OTHERS}
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if others == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return others`;

/**
 * Drops from the online set every user of a page of it whom no instance holds a live entry for.
 * KEYS: online set; ARGV: key prefix of user hashes, now, then the page's user ids. Returns them.
 */
const FORGET_STALE = `
local dropped = {}
for i = 3, #ARGV do
  local entries = redis.call('HGETALL', ARGV[1] .. ARGV[i])
  local live = false
  for j = 2, #entries, 2 do
    if tonumber(entries[j]) > tonumber(ARGV[2]) then live = true end
  end
  if not live then
    redis.call('SREM', KEYS[1], ARGV[i])
    table.insert(dropped, ARGV[i])
  end
end
return dropped`;

/** Kept in every instance's user set while it lives: an instance set without it has expired. */
const ALIVE = '.';

export interface RedisPresenceOptions {
  /** One node, or a Redis Cluster. */
  redis: Redis | Cluster;
  /** Every key under one hash tag: needed on a Redis Cluster. */
  hashTagged?: boolean;
  keyPrefix: string;
  instanceId: string;
  /** How long an instance's entries outlive its last heartbeat, in ms. Heartbeats run every ttlMs / 3. */
  ttlMs: number;
  /** Users who went offline because the instance holding them died (its heartbeat lapsed). */
  onExpired(userIds: string[]): void;
  /**
   * Users back online because this instance, paused past its TTL and reaped meanwhile, resumed:
   * its heartbeat found it gone and registered its users again.
   */
  onRevived(userIds: string[]): void;
  /** Redis failed a heartbeat, a reaping round (the next one retries) or a read (answered locally). */
  onError(error: unknown): void;
  now?: () => number;
}

/**
 * Keys (`presence:…`, or `{presence}:…` on a Redis Cluster): `presence:user:<id>` hash, field =
 * instance id, value = expiry (ms since epoch); `presence:instance:<id>` set of the users an
 * instance holds; `presence:instances` sorted set of instance ids by expiry. Every heartbeat also reaps instances whose expiry has passed: one
 * instance (a short lock decides which) removes a dead instance's entries and reports the users
 * left with no live instance as expired.
 */
export function createRedisPresence(options: RedisPresenceOptions): PresenceStore {
  const { redis, keyPrefix, instanceId, ttlMs, now = Date.now } = options;
  const local = new LocalCounts();
  // On a Redis Cluster, one hash tag for every presence key: its scripts and pipelines touch several
  // at once, which a cluster allows only within one slot. Presence is per-user heartbeats, not
  // per-message traffic, so one shard carries it. On one node the keys keep their names, so a
  // rolling update from an earlier release sees the same presence.
  const base = options.hashTagged ? `${keyPrefix}{presence}` : `${keyPrefix}presence`;
  const userKey = (userId: string) => `${base}:user:${userId}`;
  const instanceKey = (id: string) => `${base}:instance:${id}`;
  const instancesKey = `${base}:instances`;
  const onlineKey = `${base}:online`;
  /** A dead instance's user set outlives it long enough to be reaped, and no longer. */
  const instanceSetTtlMs = ttlMs * 10;

  /**
   * Adds or removes one instance's entry for a user and counts the other instances holding the user
   * alive, in one atomic step: when two instances connect (or disconnect) the same user at once,
   * exactly one of them sees nobody else and announces the change.
   */
  const updateEntry = async (script: string, userId: string, instance: string): Promise<number> =>
    Number(await redis.eval(script, 3, userKey(userId), instanceKey(instance), onlineKey, instance, userId, now(), now() + ttlMs, ttlMs, instanceSetTtlMs));

  let registered = false;
  const heartbeat = async () => {
    const expiresAt = now() + ttlMs;
    const users = local.users();
    const pipeline = redis.pipeline().zadd(instancesKey, expiresAt, instanceId);
    for (const userId of users) pipeline.hset(userKey(userId), instanceId, expiresAt).pexpire(userKey(userId), ttlMs);
    pipeline.sadd(instanceKey(instanceId), ALIVE, ...users).pexpire(instanceKey(instanceId), instanceSetTtlMs);
    const [[, added] = []] = (await pipeline.exec()) ?? [];
    if (added === 1 && registered) {
      // Reaped while paused: its users were announced offline. Join them again, and announce those
      // nobody else holds.
      const revived: string[] = [];
      for (const userId of users) if ((await updateEntry(JOIN, userId, instanceId)) === 0) revived.push(userId);
      if (revived.length > 0) options.onRevived(revived);
    }
    registered = true;
    await reap();
  };

  const reap = async () => {
    const dead = (await redis.zrangebyscore(instancesKey, '-inf', now())).filter((id) => id !== instanceId);
    for (const deadId of dead) {
      const claimed = await redis.set(`${base}:reaping:${deadId}`, instanceId, 'PX', ttlMs, 'NX');
      if (!claimed) continue;
      const expired: string[] = [];
      const members = await redis.smembers(instanceKey(deadId));
      for (const userId of members) {
        if (userId !== ALIVE && (await updateEntry(LEAVE, userId, deadId)) === 0) expired.push(userId);
      }
      await redis.pipeline().del(instanceKey(deadId)).zrem(instancesKey, deadId).exec();
      // Its user set had expired too (the whole cluster was down for a while): whom it held is
      // unknown, so sweep the online set for users nobody holds any more.
      if (!members.includes(ALIVE)) expired.push(...(await sweepOnline()));
      if (expired.length > 0) options.onExpired(expired);
    }
  };

  /** Removes from the online set every user without a live entry, a page per round trip; returns them. */
  const sweepOnline = async (): Promise<string[]> => {
    const stale: string[] = [];
    let cursor = '0';
    do {
      const [next, userIds] = await redis.sscan(onlineKey, cursor, 'COUNT', 500);
      cursor = next;
      if (userIds.length > 0) stale.push(...((await redis.eval(FORGET_STALE, 1, onlineKey, userKey(''), now(), ...userIds)) as string[]));
    } while (cursor !== '0');
    return stale;
  };

  let beating = heartbeat().catch(options.onError);
  const timer = setInterval(() => {
    beating = beating.then(() => heartbeat().catch(options.onError));
  }, Math.floor(ttlMs / 3));
  timer.unref();

  return {
    async connected(userId) {
      return local.add(userId) && (await updateEntry(JOIN, userId, instanceId)) === 0;
    },
    async disconnected(userId) {
      return local.remove(userId) && (await updateEntry(LEAVE, userId, instanceId)) === 0;
    },
    // Reads degrade to what this instance knows while Redis is away, rather than failing the field.
    async online(userIds) {
      if (userIds.length === 0) return new Set();
      const pipeline = redis.pipeline();
      for (const userId of userIds) pipeline.hvals(userKey(userId));
      let results: [Error | null, unknown][];
      try {
        results = (await pipeline.exec()) ?? [];
      } catch (error) {
        options.onError(error);
        return new Set(userIds.filter((id) => local.has(id)));
      }
      const at = now();
      return new Set(
        userIds.filter((_, i) => {
          const [error, expiries] = results[i] ?? [];
          return !error && (expiries as string[]).some((expiry) => Number(expiry) > at);
        }),
      );
    },
    count: () =>
      redis.scard(onlineKey).catch((error: unknown) => {
        options.onError(error);
        return local.users().length;
      }),
    async dispose() {
      clearInterval(timer);
      await beating;
      for (const userId of local.users()) await updateEntry(LEAVE, userId, instanceId);
      await redis.pipeline().del(instanceKey(instanceId)).zrem(instancesKey, instanceId).exec();
    },
  };
}
