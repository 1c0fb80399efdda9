import type { Pool, PoolClient } from 'pg';

type ConnectCallback = (error: Error | undefined, client: PoolClient | undefined, release: (error?: Error | boolean) => void) => void;

/** A statement could not get one of the pool's connections in time: the instance is overloaded. */
export class PoolBusyError extends Error {
  readonly code = 'PARLEY_POOL_BUSY';

  constructor(timeoutMs: number) {
    super(`No database connection became free within ${timeoutMs} ms (DATABASE_POOL_QUEUE_TIMEOUT)`);
    this.name = 'PoolBusyError';
  }
}

/**
 * Bounds how long a caller waits for a connection when every one of the pool's is busy, so that
 * overload is refused (SERVICE_UNAVAILABLE) instead of queued for seconds. Only the wait in the
 * queue is bounded: taking an idle connection or opening a new one (the pool's own
 * connectionTimeoutMillis) is not. A connection that frees up after its caller gave up goes
 * straight back to the pool, to the next in line.
 */
export function boundPoolWait(pool: Pool, timeoutMs: number): void {
  const connect = pool.connect.bind(pool) as (callback: ConnectCallback) => void;
  const max = (pool as unknown as { options: { max: number } }).options.max;
  const bounded = (callback: ConnectCallback): void => {
    if (pool.idleCount > 0 || pool.totalCount < max) return connect(callback);
    let waiting = true;
    const timer = setTimeout(() => {
      waiting = false;
      callback(new PoolBusyError(timeoutMs), undefined, () => undefined);
    }, timeoutMs);
    connect((error, client, release) => {
      if (waiting) {
        waiting = false;
        clearTimeout(timer);
        callback(error, client, release);
      } else if (!error) {
        release();
      }
    });
  };
  // Both of pg's forms: TypeORM and pool.query() pass a callback; without one, a promise of the client.
  (pool as unknown as { connect: (callback?: ConnectCallback) => unknown }).connect = (callback?: ConnectCallback) => {
    if (callback) return bounded(callback);
    return new Promise<PoolClient>((resolve, reject) => bounded((error, client) => (error ? reject(error) : resolve(client!))));
  };
}
