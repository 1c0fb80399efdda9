import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { addressKey } from './client-address';

/** Open WebSockets one user, and one client address, may hold across the cluster. */
export interface ConnectionCaps {
  perUser: number;
  perAddress: number;
}

/**
 * What one admitted socket holds; given back on close. Who and where, not the counted keys: those
 * are made again on release, so ten thousand sockets do not each keep their own copies.
 */
export interface ConnectionTicket {
  readonly userId: string | null;
  readonly address: string;
}

export type Admission = { ticket: ConnectionTicket } | { refused: { cap: 'user' | 'address'; reason: string } };

/**
 * Counts open WebSockets per user and per client address (its /64 for IPv6), across every
 * instance in cluster mode, so that per-socket limits cannot be multiplied by opening more sockets.
 */
export interface ConnectionLimits {
  /** Counts one more socket for this user (if signed in) and address, or says which cap it is over. */
  admit(userId: string | null, address: string): Promise<Admission>;
  /** The socket closed: what it held is free again. */
  release(ticket: ConnectionTicket): void;
  dispose(): Promise<void>;
}

const keysOf = (userId: string | null, address: string) => [...(userId ? [`user:${userId}`] : []), `address:${addressKey(address)}`];

function refusal(key: string, caps: ConnectionCaps): { cap: 'user' | 'address'; reason: string } {
  return key.startsWith('user:')
    ? { cap: 'user', reason: `Too many connections for this user: at most ${caps.perUser} open WebSockets.` }
    : { cap: 'address', reason: `Too many connections from this address: at most ${caps.perAddress} open WebSockets.` };
}
const capOf = (key: string, caps: ConnectionCaps) => (key.startsWith('user:') ? caps.perUser : caps.perAddress);

/** This instance's own sockets per key: the authoritative count of what it holds. */
class LocalCounts {
  private readonly counts = new Map<string, number>();
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  add(key: string, delta: number): number {
    const count = this.get(key) + delta;
    if (count > 0) this.counts.set(key, count);
    else this.counts.delete(key);
    return count;
  }
  entries(): [string, number][] {
    return [...this.counts];
  }
}

export function createInProcessConnectionLimits(caps: ConnectionCaps): ConnectionLimits {
  const local = new LocalCounts();
  return {
    async admit(userId, address) {
      const keys = keysOf(userId, address);
      const over = keys.find((key) => local.get(key) >= capOf(key, caps));
      if (over) return { refused: refusal(over, caps) };
      for (const key of keys) local.add(key, 1);
      return { ticket: { userId, address } };
    },
    release: ({ userId, address }) => keysOf(userId, address).forEach((key) => local.add(key, -1)),
    dispose: async () => undefined,
  };
}

/**
 * Admits one more socket on a key when every instance's live count plus this instance's new one
 * stays within the cap; drops the counts of instances whose entry expired (they died). KEYS: the
 * key's hash (field `<instance>` = count, `<instance>@` = expiry in ms). ARGV: instance, now,
 * expiry, cap, hash TTL in ms, this instance's count with the new socket. Returns 1 if admitted.
 */
const ADMIT = `
local now = tonumber(ARGV[2])
local counts, expiries = {}, {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local field = entries[i]
  if string.sub(field, -1) == '@' then expiries[string.sub(field, 1, -2)] = tonumber(entries[i + 1])
  else counts[field] = tonumber(entries[i + 1]) end
end
local others = 0
for instance, count in pairs(counts) do
  if instance ~= ARGV[1] then
    if (expiries[instance] or 0) > now then others = others + count
    else redis.call('HDEL', KEYS[1], instance, instance .. '@') end
  end
end
if others + tonumber(ARGV[6]) > tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[6], ARGV[1] .. '@', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

export interface RedisConnectionLimitsOptions {
  /** One node, or a Redis Cluster. */
  redis: Redis | Cluster;
  keyPrefix: string;
  instanceId: string;
  caps: ConnectionCaps;
  /** How long a dead instance's sockets keep counting, in ms (PRESENCE_TTL); refreshed every third of it. */
  ttlMs: number;
  /** Redis failed: the instance then counts what it holds itself (the next heartbeat writes it back). */
  onError(error: unknown): void;
  now?: () => number;
}

/**
 * Counts in Redis, one hash per user and per address, a field per instance. Each instance writes
 * its own count (what it holds, never an increment), so its writes can be repeated; a heartbeat
 * rewrites them with a fresh expiry, and an instance that dies stops counting once its entries
 * expire. While Redis is away each instance admits up to the caps on its own sockets.
 */
export function createRedisConnectionLimits(options: RedisConnectionLimitsOptions): ConnectionLimits {
  const { redis, keyPrefix, instanceId, caps, ttlMs, now = Date.now } = options;
  const local = new LocalCounts();
  // One hash per user or address, in a slot of its own on a Redis Cluster.
  const hashOf = (key: string) => `${keyPrefix}connections:{${key}}`;
  const write = (key: string, count: number) =>
    (count > 0 ? redis.hset(hashOf(key), instanceId, count, `${instanceId}@`, now() + ttlMs) : redis.hdel(hashOf(key), instanceId, `${instanceId}@`)).catch(options.onError);

  const admitOne = async (key: string): Promise<boolean> => {
    const count = local.add(key, 1);
    try {
      if (redis.status === 'ready' && Number(await redis.eval(ADMIT, 1, hashOf(key), instanceId, now(), now() + ttlMs, capOf(key, caps), ttlMs, count)) === 1) return true;
      if (redis.status !== 'ready' && count <= capOf(key, caps)) return true;
    } catch (error) {
      options.onError(error);
      if (count <= capOf(key, caps)) return true;
    }
    void write(key, local.add(key, -1));
    return false;
  };

  const heartbeat = async () => {
    const entries = local.entries();
    if (entries.length === 0 || redis.status !== 'ready') return;
    const expiry = now() + ttlMs;
    const announce = (pipeline: ChainableCommander, [key, count]: [string, number]) => pipeline.hset(hashOf(key), instanceId, count, `${instanceId}@`, expiry).pexpire(hashOf(key), ttlMs);
    // The keys hash to different slots, and a Redis Cluster runs a pipeline within one slot only:
    // there, one pipeline per key; on one node, one pipeline (one write) for them all.
    if (redis.isCluster) await Promise.all(entries.map((entry) => announce(redis.pipeline(), entry).exec()));
    else await entries.reduce(announce, redis.pipeline()).exec();
  };
  const timer = setInterval(() => void heartbeat().catch(options.onError), Math.floor(ttlMs / 3));
  timer.unref();

  return {
    async admit(userId, address) {
      const keys = keysOf(userId, address);
      const taken: string[] = [];
      for (const key of keys) {
        if (!(await admitOne(key))) {
          for (const held of taken) void write(held, local.add(held, -1));
          return { refused: refusal(key, caps) };
        }
        taken.push(key);
      }
      return { ticket: { userId, address } };
    },
    release({ userId, address }) {
      for (const key of keysOf(userId, address)) void write(key, local.add(key, -1));
    },
    async dispose() {
      clearInterval(timer);
      await Promise.all(local.entries().map(([key]) => redis.hdel(hashOf(key), instanceId, `${instanceId}@`).catch(options.onError)));
    },
  };
}
