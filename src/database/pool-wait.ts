import type { Pool, PoolClient } from 'pg';

type ConnectCallback = (error: Error | undefined, client: PoolClient | undefined, release: (error?: Error | boolean) => void) => void;

/** A statement could not get one of the pool's connections in time: the instance is overloaded. */
export class PoolBusyError extends Error {
  declare readonly code: 'PARLEY_POOL_BUSY';

  constructor(timeoutMs: number) {
    // Thousands of these a second under overload: the stack (always the pool's timer) is not worth capturing.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(`No database connection became free within ${timeoutMs} ms (DATABASE_POOL_QUEUE_TIMEOUT)`);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'PoolBusyError';
    Object.defineProperty(this, 'code', { value: 'PARLEY_POOL_BUSY', enumerable: true });
  }
}

/** Whether `error` (or the driver error TypeORM wraps in it) is a PoolBusyError. */
export function isPoolBusy(error: unknown): boolean {
  const inner = (error as { driverError?: unknown } | null)?.driverError ?? error;
  return (inner as { code?: unknown } | null)?.code === 'PARLEY_POOL_BUSY';
}

/**
 * Bounds how long a caller waits for a connection when every one of the pool's is busy, so that
 * overload is refused (SERVICE_UNAVAILABLE) instead of queued for seconds. Only the wait in the
 * queue is bounded: taking an idle connection or opening a new one (the pool's own
 * connectionTimeoutMillis) is not. A caller that gives up leaves pg-pool's queue (its entry is
 * removed), and a connection that reaches it anyway goes back to the pool on the next turn.
 */
export function boundPoolWait(pool: Pool, timeoutMs: number): void {
  const connect = pool.connect.bind(pool) as (callback: ConnectCallback) => void;
  const max = (pool as unknown as { options: { max: number } }).options.max;
  // pg-pool's queue of waiting callers (it replaces the array now and then: read it each time).
  const pending = () => (pool as unknown as { _pendingQueue?: unknown[] })._pendingQueue;
  const bounded = (callback: ConnectCallback): void => {
    if (pool.waitingCount === 0 && (pool.idleCount > 0 || pool.totalCount < max)) return connect(callback);
    let waiting = true;
    let timer: NodeJS.Timeout | undefined = undefined;
    const queued = pending()?.length;
    connect((error, client, release) => {
      if (waiting) {
        waiting = false;
        clearTimeout(timer);
        callback(error, client, release);
      } else if (!error) {
        // Not synchronously: a release hands the connection to the next in line at once, and a chain
        // of callers that gave up would otherwise recurse through every one of them.
        setImmediate(() => release());
      }
    });
    // pg-pool's own entry for this wait, so that giving up also leaves the queue.
    const entry = queued !== undefined && pending()?.length === queued + 1 ? pending()![queued] : undefined;
    if (!waiting) return;
    timer = setTimeout(() => {
      waiting = false;
      const queue = pending();
      const at = entry === undefined || !queue ? -1 : queue.indexOf(entry);
      if (at >= 0) queue!.splice(at, 1);
      callback(new PoolBusyError(timeoutMs), undefined, () => undefined);
    }, timeoutMs);
  };
  // Both of pg's forms: TypeORM and pool.query() pass a callback; without one, a promise of the client.
  (pool as unknown as { connect: (callback?: ConnectCallback) => unknown }).connect = (callback?: ConnectCallback) => {
    if (callback) return bounded(callback);
    return new Promise<PoolClient>((resolve, reject) => bounded((error, client) => (error ? reject(error) : resolve(client!))));
  };
}
