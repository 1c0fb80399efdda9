import { EventQueue, SlowConsumerError } from './event-queue';

describe('EventQueue', () => {
  it('hands values out in order, to a consumer waiting or not', async () => {
    const queue = new EventQueue<number>();
    queue.push(1);
    const waiting = [queue.next(), queue.next()];
    queue.push(2);
    expect(await Promise.all(waiting)).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
    ]);
  });

  it('fails after what was queued, even with an undefined error, and closes once', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    queue.push(1);
    queue.fail(undefined);
    queue.push(2);
    expect(await queue.next()).toEqual({ value: 1, done: false });
    await expect(queue.next()).rejects.toBeUndefined();
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    await queue.return();
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('ends a waiting consumer and runs onClose when returned', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    const waiting = queue.next();
    await queue.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(queue.isOpen).toBe(false);
  });

  it('with a bound, drops everything and ends once a consumer falls more than the limit behind', async () => {
    const onClose = jest.fn();
    const onOverflow = jest.fn();
    const queue = new EventQueue<number>(onClose, { limit: 3, onOverflow });
    for (let i = 1; i <= 3; i++) queue.push(i);
    expect(onOverflow).not.toHaveBeenCalled();
    expect(await queue.next()).toEqual({ value: 1, done: false });
    queue.push(4);
    queue.push(5); // a fourth waiting value
    expect(onOverflow).toHaveBeenCalledTimes(1);
    expect(queue.size).toBe(0);
    await expect(queue.next()).rejects.toBeInstanceOf(SlowConsumerError);
    queue.push(6);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(onOverflow).toHaveBeenCalledTimes(1);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('never counts values handed straight to a waiting consumer against the bound', async () => {
    const onOverflow = jest.fn();
    const queue = new EventQueue<number>(undefined, { limit: 1, onOverflow });
    for (let i = 0; i < 100; i++) {
      const next = queue.next();
      queue.push(i);
      expect(await next).toEqual({ value: i, done: false });
    }
    expect(onOverflow).not.toHaveBeenCalled();
  });

  describe('with a sink', () => {
    /** A sink that records what it takes and how the queue ended, busy while `busy()` says so. */
    const recorder = (busy: () => boolean) => {
      const sink = {
        taken: [] as number[],
        ends: [] as ({ error: unknown } | undefined)[],
        take: (value: number) => (sink.taken.push(value), busy()),
        end: (failure?: { error: unknown }) => void sink.ends.push(failure),
      };
      return sink;
    };

    it('hands each value to the sink as it is pushed, and holds later ones back, in order, while it is busy', () => {
      const queue = new EventQueue<number>();
      let busy = false;
      const sink = recorder(() => busy);
      queue.push(1); // before the sink: handed over when it is set
      queue.sinkTo(sink);
      queue.push(2);
      expect(sink.taken).toEqual([1, 2]);
      busy = true;
      queue.push(3); // the sink is busy with 3 now
      queue.push(4);
      queue.push(5);
      expect(sink.taken).toEqual([1, 2, 3]);
      busy = false;
      queue.sinkIdle();
      expect(sink.taken).toEqual([1, 2, 3, 4, 5]);
      expect(sink.ends).toEqual([]);
    });

    it('ends the sink once, only when the stream ended and the sink is done, with the failure after the values', () => {
      const queue = new EventQueue<number>();
      const sink = recorder(() => true);
      queue.sinkTo(sink);
      queue.push(1);
      queue.push(2);
      const failure = new Error('gone');
      queue.fail(failure);
      expect(sink.ends).toEqual([]);
      queue.sinkIdle(); // 1 written: 2 goes
      expect(sink.taken).toEqual([1, 2]);
      expect(sink.ends).toEqual([]);
      queue.sinkIdle(); // 2 written
      expect(sink.ends).toEqual([{ error: failure }]);
      void queue.return();
      queue.sinkIdle();
      expect(sink.ends).toHaveLength(1);
    });

    it('ends the sink without a failure when the consumer stops it, and is not pulled meanwhile', async () => {
      const queue = new EventQueue<number>();
      const sink = recorder(() => false);
      queue.sinkTo(sink);
      await expect(queue.next()).rejects.toThrow('not pulled');
      await queue.return();
      expect(sink.ends).toEqual([undefined]);
    });

    it('drops what is queued when aborted: nothing after a failed value goes to the sink', () => {
      const queue = new EventQueue<number>();
      const sink = recorder(() => true);
      queue.sinkTo(sink);
      queue.push(1);
      queue.push(2);
      const failure = new Error('payload failed');
      queue.abort(failure);
      queue.sinkIdle();
      expect(sink.taken).toEqual([1]);
      expect(sink.ends).toEqual([{ error: failure }]);
    });

    it('bounds what waits for a busy sink', () => {
      const onOverflow = jest.fn();
      const queue = new EventQueue<number>(undefined, { limit: 2, onOverflow });
      const sink = recorder(() => true);
      queue.sinkTo(sink);
      for (let i = 0; i < 4; i++) queue.push(i); // 0 in the sink, 1 and 2 waiting, 3 one too many
      expect(onOverflow).toHaveBeenCalledTimes(1);
      queue.sinkIdle();
      expect(sink.taken).toEqual([0]);
      expect(sink.ends).toHaveLength(1);
      expect(sink.ends[0]?.error).toBeInstanceOf(SlowConsumerError);
    });
  });
});
