/**
 * A FIFO that buffers values pushed before anyone awaits them, so a test never misses a message
 * that arrived between two awaits. `next()` fails after `timeoutMs` naming what it waited for.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(timeoutMs = 5_000, what = 'a message'): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    return new Promise((resolve, reject) => {
      // Unref'd, as ws-client's finished(): a wait the test gave up on (it lost a Promise.race to a
      // close or an error) must not keep the Jest process, or worker, alive for up to timeoutMs.
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs).unref();
      const waiter = (item: T) => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(waiter);
    });
  }

  /** Everything buffered and not yet taken. */
  drain(): T[] {
    return this.items.splice(0);
  }
}
