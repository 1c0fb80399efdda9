/** How many values may wait for a consumer that does not keep up, and what happens beyond. */
export interface QueueBound {
  limit: number;
  /** Called once when a push would exceed `limit`; the queue then drops its values and ends. */
  onOverflow(): void;
}

/** The error a queue ends with when its consumer fell `limit` values behind. */
export class SlowConsumerError extends Error {
  constructor(limit: number) {
    super(`The client fell more than ${limit} events behind; resume with afterSeq.`);
    this.name = 'SlowConsumerError';
  }
}

/**
 * A push-driven async iterator: producers `push` values (from bus callbacks, timers), one consumer
 * (graphql-js, for one subscription) pulls them in order. `fail` ends the stream with an error after
 * what was already queued; `return()` — the client unsubscribed or the socket closed — runs
 * `onClose` once, so listeners and timers never outlive the subscription. With a `bound`, a consumer
 * that stops pulling (its socket stopped taking frames) cannot make the queue grow past `limit`: the
 * queue empties, ends, and `onOverflow` tells the connection to close.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = [];
  private readonly waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void }[] = [];
  /** Set by `fail`: delivered to the consumer after the queued values. */
  private failure: { error: unknown } | null = null;
  private ended = false;
  private closed = false;
  /** Set by `sinkTo`: values go to it as they are pushed, in order, whenever it is not busy. */
  private sink: ((value: T) => boolean) | undefined;
  private sinkBusy = false;

  constructor(
    private readonly onClose: () => void = () => undefined,
    private readonly bound?: QueueBound,
  ) {}

  /** Values queued and not yet pulled: how far the consumer lags behind. */
  get size(): number {
    return this.values.length;
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  push(value: T): void {
    if (this.ended) return;
    if (this.sink) {
      if (!this.sinkBusy && this.values.length === 0) {
        this.sinkBusy = this.sink(value);
        return;
      }
    } else {
      const waiter = this.waiting.shift();
      if (waiter) return waiter.resolve({ value, done: false });
    }
    if (this.bound && this.values.length >= this.bound.limit) {
      this.values.length = 0;
      this.fail(new SlowConsumerError(this.bound.limit));
      this.bound.onOverflow();
      return;
    }
    this.values.push(value);
  }

  /** Ends the stream with `error` once the consumer has taken what is queued. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.finish();
  }

  /**
   * Hands every value to `sink` as it is pushed, instead of waiting for it to be pulled: the work
   * per value then happens in the producer's call, with no promise per value. `sink` returns true
   * while it is still busy with a value (a frame waiting for its payload or its socket); values
   * pushed meanwhile wait here, bounded as usual, until it calls `sinkIdle()`. `next()` then only
   * settles once the stream has ended and every value went to the sink.
   */
  sinkTo(sink: (value: T) => boolean): void {
    this.sink = sink;
    this.flush();
  }

  /** The sink finished with its value: the next one may go. */
  sinkIdle(): void {
    this.sinkBusy = false;
    this.flush();
  }

  private flush(): void {
    while (!this.sinkBusy && this.values.length > 0) this.sinkBusy = this.sink!(this.values.shift() as T);
    if (this.ended && !this.sinkBusy) this.settleWaiting();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.sink) {
      if (!this.ended || this.sinkBusy || this.values.length > 0) return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
      return this.failure ? this.takeFailure() : Promise.resolve({ value: undefined, done: true });
    }
    if (this.values.length > 0) return Promise.resolve({ value: this.values.shift() as T, done: false });
    if (this.failure) return this.takeFailure();
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.values.length = 0;
    this.failure = null;
    try {
      this.finish();
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.values.length = 0;
    this.failure = null;
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private takeFailure(): Promise<never> {
    const { error } = this.failure!;
    this.failure = null;
    return Promise.reject(error);
  }

  /** Ends the consumer's wait: with the failure if there is one, else done. */
  private settleWaiting(): void {
    for (const waiter of this.waiting.splice(0)) {
      if (this.failure) {
        waiter.reject(this.failure.error);
        this.failure = null;
      } else waiter.resolve({ value: undefined, done: true });
    }
  }

  private finish(): void {
    this.ended = true;
    // A sink still busy, or values still waiting for it, settle the consumer's wait when they are done.
    if (!this.sink || (!this.sinkBusy && this.values.length === 0)) this.settleWaiting();
    else this.flush();
    if (!this.closed) {
      this.closed = true;
      this.onClose();
    }
  }
}
