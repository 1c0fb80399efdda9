import { PubSub as InProcessPubSub, PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Cluster, Redis } from 'ioredis';
import type { PubSub } from 'type-graphql';
import { SpanKind } from '@opentelemetry/api';
import { noTracing, type Tracing } from '../observability/tracing';
import type { StringTable } from './strings';
import type { Topic } from './topics';

/**
 * The event bus, over either graphql-subscriptions' in-process engine or RedisPubSub. Parley's own
 * streams use `publishTo`/`listen` (typed by the topic registry); `publish`/`subscribe` are the
 * shape type-graphql's PubSub wants. RedisPubSub issues one Redis SUBSCRIBE per channel per
 * instance, however many listeners share it.
 */
export interface EventBus extends PubSub {
  /** Publishes `payload` to every listener of `topic` on every instance. */
  publishTo<P>(topic: Topic<P>, payload: P): Promise<void>;
  /**
   * Calls `handler` for each payload published on `topic` from now on. Resolves once the
   * subscription is active (for Redis: SUBSCRIBE acknowledged), so anything published after that
   * is seen; resolves to the function that stops listening.
   */
  listen<P>(topic: Topic<P>, handler: (payload: P) => void): Promise<() => void>;
  /**
   * Calls `listener` each time the bus comes back after losing its connection (Redis restarted):
   * whatever was published meanwhile may be lost, so streams catch up from the event log.
   * Returns the function that stops calling it.
   */
  onReconnect(listener: () => void): () => void;
  publish(topic: string, payload: unknown): Promise<void>;
  subscribe(topic: string): AsyncIterable<unknown>;
  close(): Promise<void>;
}

function adapt(engine: PubSubEngine, prefix: string, strings: StringTable, onReconnect: EventBus['onReconnect'], tracing: Tracing = noTracing): EventBus {
  const publishTo: EventBus['publishTo'] = tracing.enabled
    ? // The publish is a span, and the payload carries it: the delivery on another instance joins this trace.
      (topic, payload) =>
        tracing.inSpan(`publish ${topic.split(':')[0]}`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'redis', 'messaging.destination.name': prefix + topic } }, () =>
          engine.publish(prefix + topic, { ...payload, traceparent: tracing.traceparent() }),
        )
    : (topic, payload) => engine.publish(prefix + topic, payload);
  const delivered = <P>(topic: string, handler: (payload: P) => void) =>
    tracing.enabled
      ? (payload: P) => {
          const traceparent = (payload as { traceparent?: unknown }).traceparent;
          if (typeof traceparent !== 'string') return handler(payload);
          tracing.inSpan(`deliver ${topic.split(':')[0]}`, { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'redis', 'messaging.destination.name': prefix + topic } }, () => handler(payload), traceparent);
        }
      : handler;
  return {
    onReconnect,
    publishTo,
    async listen(topic, handler) {
      // Every listener of one channel holds its name: one copy for all of them.
      const id = await engine.subscribe(strings.intern(prefix + topic), delivered(topic, handler), {});
      return () => engine.unsubscribe(id);
    },
    publish: (topic, payload) => engine.publish(prefix + topic, payload),
    subscribe: (topic) => engine.asyncIterableIterator(prefix + topic),
    close: async () => undefined,
  };
}

/** Single-instance mode: events never leave this process. Listeners get the published object itself, so none may mutate it. */
export function createInProcessBus(strings: StringTable): EventBus {
  return adapt(new InProcessPubSub(), '', strings, () => () => undefined);
}

/**
 * Cluster mode: events cross instances through Redis channels named `<keyPrefix><topic>`.
 * The two connections belong to the caller, who closes them after `close()`.
 */
export function createRedisBus(publisher: Redis, subscriber: Redis, keyPrefix: string, strings: StringTable, tracing?: Tracing): EventBus {
  // The subscriber connection is already up: every later 'ready' is a reconnect. ioredis then
  // re-subscribes every channel by itself; the PING answers after those SUBSCRIBEs did, so by the
  // time listeners read the log, anything published later reaches them live.
  const listeners = new Set<() => void>();
  subscriber.on('ready', () => {
    const notify = () => listeners.forEach((listener) => listener());
    subscriber.ping().then(notify, notify);
  });
  const onReconnect = (listener: () => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return adapt(new RedisPubSub({ publisher, subscriber }), keyPrefix, strings, onReconnect, tracing);
}

/**
 * Sharded pub/sub on a Redis Cluster (SPUBLISH/SSUBSCRIBE, Redis ≥ 7): a channel lives on the shard
 * that owns its slot, so a message travels to that shard's subscribers only, where classic PUBLISH
 * is broadcast over the cluster bus to every node. One SSUBSCRIBE per channel per instance, however
 * many listeners share it; payloads are JSON, as with RedisPubSub.
 */
class ShardedPubSub extends PubSubEngine {
  private readonly channels = new Map<string, Set<number>>();
  private readonly handlers = new Map<number, { channel: string; onMessage: (payload: unknown) => void }>();
  private nextId = 0;

  constructor(private readonly cluster: Cluster) {
    super();
    cluster.on('smessage', (channel: string, message: string) => {
      const ids = this.channels.get(channel);
      if (!ids) return;
      const payload: unknown = JSON.parse(message);
      for (const id of ids) this.handlers.get(id)?.onMessage(payload);
    });
  }

  async publish(channel: string, payload: unknown): Promise<void> {
    await this.cluster.spublish(channel, JSON.stringify(payload));
  }

  async subscribe(channel: string, onMessage: (payload: unknown) => void): Promise<number> {
    const id = this.nextId++;
    this.handlers.set(id, { channel, onMessage });
    let ids = this.channels.get(channel);
    if (!ids) {
      this.channels.set(channel, (ids = new Set()));
      ids.add(id);
      try {
        await this.cluster.ssubscribe(channel);
      } catch (error) {
        this.unsubscribe(id);
        throw error;
      }
    } else ids.add(id);
    return id;
  }

  unsubscribe(id: number): void {
    const handler = this.handlers.get(id);
    if (!handler) return;
    this.handlers.delete(id);
    const ids = this.channels.get(handler.channel);
    ids?.delete(id);
    if (ids?.size === 0) {
      this.channels.delete(handler.channel);
      // A failure leaves a subscription nobody listens to; its messages are dropped above.
      this.cluster.sunsubscribe(handler.channel).catch(() => undefined);
    }
  }
}

/**
 * Cluster mode on a Redis Cluster: events cross instances over sharded channels named
 * `<keyPrefix><topic>` (a conversation's topic is its own channel, so conversations spread over
 * the shards). The cluster client belongs to the caller, who closes it after `close()`.
 *
 * When a shard's master fails, ioredis rebuilds its sharded subscribers from the new slot map and
 * subscribes again, then says `subscribersReady`: whatever was published meanwhile may be lost, so
 * listeners catch up from the event log, once each new subscriber has answered a PING (it answers
 * after the SSUBSCRIBEs sent before it, so anything published later reaches them live).
 */
export function createShardedRedisBus(cluster: Cluster, keyPrefix: string, strings: StringTable, tracing?: Tracing): EventBus {
  const listeners = new Set<() => void>();
  // Also said once at start-up, and after a resharding: a catch-up then finds nothing, which is harmless.
  cluster.on('subscribersReady', () => {
    const notify = () => listeners.forEach((listener) => listener());
    void Promise.all(shardedSubscriberConnections(cluster).map(answered)).then(notify, notify);
  });
  const onReconnect = (listener: () => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return adapt(new ShardedPubSub(cluster), keyPrefix, strings, onReconnect, tracing);
}

/** The connections ioredis keeps for sharded subscriptions, one per master (its internals, read defensively). */
function shardedSubscriberConnections(cluster: Cluster): Redis[] {
  const group = (cluster as unknown as { shardedSubscribers?: { shardedSubscribers?: Map<string, { getInstance(): Redis | null }> } }).shardedSubscribers;
  return [...(group?.shardedSubscribers?.values() ?? [])].map((s) => s.getInstance()).filter((r): r is Redis => r !== null);
}

/** Resolves once `redis` is ready and has answered a PING (or has ended: nothing to wait for). */
async function answered(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const settle = () => {
        redis.off('ready', settle).off('end', settle);
        resolve();
      };
      redis.on('ready', settle).on('end', settle);
    });
  }
  if (redis.status === 'ready') await redis.ping().catch(() => undefined);
}
