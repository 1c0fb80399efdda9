import { PubSub as InProcessPubSub, PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Cluster, Redis } from 'ioredis';
import type { PubSub } from 'type-graphql';
import { SpanKind } from '@opentelemetry/api';
import { withTimeout } from '../observability/health';
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
  // A publish inside a traced request is a span, and the payload carries it: the delivery on every
  // instance joins that trace. Publishes outside any trace (timers: metrics, presence sweeps) make none.
  const publishTo: EventBus['publishTo'] = tracing.enabled
    ? (topic, payload) =>
        tracing.traceparent() === undefined
          ? engine.publish(prefix + topic, payload)
          : tracing.inSpan(`publish ${topic.split(':')[0]}`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'redis', 'messaging.destination.name': prefix + topic } }, () =>
              engine.publish(prefix + topic, { ...payload, traceparent: tracing.traceparent() }),
            )
    : (topic, payload) => engine.publish(prefix + topic, payload);
  // One delivery span per event per instance, around its first listener: every listener of a
  // channel gets the same parsed object, and a span per listener would be one per subscriber.
  const spanned = new WeakSet<object>();
  const delivered = <P>(topic: string, handler: (payload: P) => void) =>
    tracing.enabled
      ? (payload: P) => {
          const traceparent = (payload as { traceparent?: unknown }).traceparent;
          if (typeof traceparent !== 'string' || spanned.has(payload as object)) return handler(payload);
          spanned.add(payload as object);
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
  /** SSUBSCRIBEs not answered yet: a later listener of the channel waits for its channel's. */
  private readonly pending = new Map<string, Promise<void>>();
  private nextId = 0;

  constructor(
    private readonly cluster: Cluster,
    onError: (error: unknown, channel: string) => void,
  ) {
    super();
    cluster.on('smessage', (channel: string, message: string) => {
      const ids = this.channels.get(channel);
      if (!ids) return;
      // Anything with access to the cluster can publish: a bad message is dropped, not thrown into ioredis's socket handler.
      let payload: unknown;
      try {
        payload = JSON.parse(message);
      } catch (error) {
        return onError(error, channel);
      }
      for (const id of ids) {
        try {
          this.handlers.get(id)?.onMessage(payload);
        } catch (error) {
          onError(error, channel);
        }
      }
    });
  }

  async publish(channel: string, payload: unknown): Promise<void> {
    await this.cluster.spublish(channel, JSON.stringify(payload));
  }

  /** Resolves once the channel's SSUBSCRIBE is answered, for the first listener of a channel and every later one alike. */
  async subscribe(channel: string, onMessage: (payload: unknown) => void): Promise<number> {
    const id = this.nextId++;
    this.handlers.set(id, { channel, onMessage });
    let ids = this.channels.get(channel);
    let subscribing = this.pending.get(channel);
    if (!ids) {
      this.channels.set(channel, (ids = new Set()));
      subscribing = this.cluster.ssubscribe(channel).then(() => undefined);
      this.pending.set(channel, subscribing);
      void subscribing.then(
        () => this.pending.delete(channel),
        () => this.pending.delete(channel),
      );
    }
    ids.add(id);
    try {
      await subscribing;
    } catch (error) {
      this.unsubscribe(id);
      throw error;
    }
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
export function createShardedRedisBus(cluster: Cluster, keyPrefix: string, strings: StringTable, onError: (error: unknown, channel: string) => void, tracing?: Tracing): EventBus {
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
  return adapt(new ShardedPubSub(cluster, onError), keyPrefix, strings, onReconnect, tracing);
}

/** The connections ioredis keeps for sharded subscriptions, one per master (its internals, read defensively). */
function shardedSubscriberConnections(cluster: Cluster): Redis[] {
  const group = (cluster as unknown as { shardedSubscribers?: { shardedSubscribers?: Map<string, { getInstance(): Redis | null }> } }).shardedSubscribers;
  return [...(group?.shardedSubscribers?.values() ?? [])].map((s) => s.getInstance()).filter((r): r is Redis => r !== null);
}

/** How long a catch-up waits for a sharded subscriber to answer before it runs anyway. */
const SUBSCRIBER_ANSWER_TIMEOUT_MS = 5_000;

/**
 * Resolves once `redis` has answered a PING, when it is a connection in use: one that is not
 * connecting at all (`wait`: a master none of this instance's channels hash to) or has ended has
 * nothing to wait for. Never waits longer than SUBSCRIBER_ANSWER_TIMEOUT_MS: a catch-up that runs
 * early only reads the log sooner; one that never runs loses what was published meanwhile.
 */
export async function answered(redis: Redis): Promise<void> {
  if (redis.status === 'wait' || redis.status === 'end') return;
  let stopWaiting = () => undefined as void;
  const ready =
    redis.status === 'ready'
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          stopWaiting = () => {
            redis.off('ready', stopWaiting).off('end', stopWaiting);
            resolve();
          };
          redis.on('ready', stopWaiting).on('end', stopWaiting);
        });
  const pinged = ready.then(() => (redis.status === 'ready' ? redis.ping().then(() => undefined, () => undefined) : undefined));
  await withTimeout(pinged, SUBSCRIBER_ANSWER_TIMEOUT_MS)
    .catch(() => undefined)
    .finally(stopWaiting);
}
