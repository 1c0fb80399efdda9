import { PubSub as InProcessPubSub, type PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Redis } from 'ioredis';
import type { PubSub } from 'type-graphql';

/**
 * The event bus as type-graphql wants it (`subscribe` returns an async iterable), over either
 * graphql-subscriptions' in-process engine or RedisPubSub, whose `subscribe` is callback-based.
 * RedisPubSub issues one Redis SUBSCRIBE per channel however many iterators listen on it.
 */
export interface EventBus extends PubSub {
  publish(topic: string, payload: unknown): Promise<void>;
  subscribe(topic: string): AsyncIterable<unknown>;
  close(): Promise<void>;
}

function adapt(engine: PubSubEngine, prefix: string, close: () => Promise<void>): EventBus {
  return {
    publish: (topic, payload) => engine.publish(prefix + topic, payload),
    subscribe: (topic) => engine.asyncIterableIterator(prefix + topic),
    close,
  };
}

/** Single-instance mode: events never leave this process. */
export function createInProcessBus(): EventBus {
  return adapt(new InProcessPubSub(), '', async () => undefined);
}

/**
 * Cluster mode: events cross instances through Redis channels named `<keyPrefix><topic>`.
 * The two connections belong to the caller, who closes them after `close()`.
 */
export function createRedisBus(publisher: Redis, subscriber: Redis, keyPrefix: string): EventBus {
  const engine = new RedisPubSub({ publisher, subscriber });
  return adapt(engine, keyPrefix, async () => undefined);
}
