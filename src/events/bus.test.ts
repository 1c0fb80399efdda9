import { Redis } from 'ioredis';
import { answered } from './bus';

describe('waiting for a sharded subscriber to answer after a failover', () => {
  it('does not wait for a connection that was never opened (a master none of our channels hash to)', async () => {
    const idle = new Redis({ lazyConnect: true });
    expect(idle.status).toBe('wait');
    await expect(answered(idle)).resolves.toBeUndefined();
  });

  it('waits for an open one to answer a PING', async () => {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      await answered(redis);
      expect(redis.status).toBe('ready');
    } finally {
      redis.disconnect();
    }
  });

  it('gives up on one that never gets there, without keeping listeners', async () => {
    // Nothing listens on port 1: the connection keeps retrying and is never ready.
    const stuck = new Redis({ port: 1, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    stuck.on('error', () => undefined);
    try {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
      const waiting = answered(stuck);
      jest.advanceTimersByTime(5_000);
      await expect(waiting).resolves.toBeUndefined();
      expect(stuck.listenerCount('ready')).toBe(0);
    } finally {
      jest.useRealTimers();
      stuck.disconnect();
    }
  });
});
