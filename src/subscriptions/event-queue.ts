/** How many values may wait for a consumer that does not keep up, and what happens beyond. */
export interface QueueBound {
  limit: number;
  /** Called once when a push would exceed `limit`; the queue then drops its values and ends. */
  onOverflow(): void;
}

/** Where a queue's values go as they are pushed, when a sink takes them instead of a consumer pulling. */
export interface QueueSink<T> {
  /** Takes one value; true while it is still busy with it (the queue then waits for `sinkIdle()`). */
  take(value: T): boolean;
  /** The queue ended and every value went to `take`: with the failure it ended with, if any. Called once. */
  end(failure?: { error: unknown }): void;
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
 * (graphql-js, for one subscription) pulls them in order — or a sink takes them as they are pushed
 * (`sinkTo`). `fail` ends the stream with an error after
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
  private sink: QueueSink<T> | undefined = undefined;
  private sinkBusy = false;
  /** Set once the sink heard that the queue ended. */
  private sinkEnded = false;

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
        this.sinkBusy = this.sink.take(value);
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

  /** Ends the stream with `error` now: what is queued is dropped (nothing after a failed value goes out). */
  abort(error: unknown): void {
    if (this.ended) return;
    this.values.length = 0;
    this.fail(error);
  }

  /**
   * Hands every value to `sink` as it is pushed, instead of waiting for it to be pulled: the work
   * per value then happens in the producer's call, with no promise per value. `take` returns true
   * while the sink is still busy with a value (a frame waiting for its payload or its socket);
   * values pushed meanwhile wait here, bounded as usual, until it calls `sinkIdle()`. Once the
   * queue has ended and the sink has taken everything, `end` says so. The queue is not pulled then.
   */
  sinkTo(sink: QueueSink<T>): void {
    this.sink = sink;
    this.flush();
  }

  /** The sink finished with its value: the next one may go. */
  sinkIdle(): void {
    this.sinkBusy = false;
    this.flush();
  }

  private flush(): void {
    while (!this.sinkBusy && this.values.length > 0) this.sinkBusy = this.sink!.take(this.values.shift() as T);
    if (this.ended && !this.sinkBusy) this.endSink();
  }

  private endSink(): void {
    if (this.sinkEnded) return;
    this.sinkEnded = true;
    const failure = this.failure ?? undefined;
    this.failure = null;
    this.sink!.end(failure);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.sink) return Promise.reject(new Error('This queue hands its values to a sink: it is not pulled'));
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
    // A sink still busy, or values still waiting for it, end it when they are done.
    if (this.sink) this.flush();
    else this.settleWaiting();
    if (!this.closed) {
      this.closed = true;
      this.onClose();
    }
  }
}
