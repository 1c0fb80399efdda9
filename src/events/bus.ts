import { PubSub as InProcessPubSub, type PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Redis } from 'ioredis';
import type { PubSub } from 'type-graphql';
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

function adapt(engine: PubSubEngine, prefix: string, strings: StringTable, onReconnect: EventBus['onReconnect']): EventBus {
  return {
    onReconnect,
    publishTo: (topic, payload) => engine.publish(prefix + topic, payload),
    async listen(topic, handler) {
      // Every listener of one channel holds its name: one copy for all of them.
      const id = await engine.subscribe(strings.intern(prefix + topic), handler, {});
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
export function createRedisBus(publisher: Redis, subscriber: Redis, keyPrefix: string, strings: StringTable): EventBus {
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
  return adapt(new RedisPubSub({ publisher, subscriber }), keyPrefix, strings, onReconnect);
}
