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
    it('hands each value to the sink as it is pushed, and holds later ones back, in order, while it is busy', () => {
      const queue = new EventQueue<number>();
      const taken: number[] = [];
      let busy = false;
      queue.push(1); // before the sink: handed over when it is set
      queue.sinkTo((value) => (taken.push(value), busy));
      queue.push(2);
      expect(taken).toEqual([1, 2]);
      busy = true;
      queue.push(3); // the sink is busy with 3 now
      queue.push(4);
      queue.push(5);
      expect(taken).toEqual([1, 2, 3]);
      busy = false;
      queue.sinkIdle();
      expect(taken).toEqual([1, 2, 3, 4, 5]);
    });

    it('settles the consumer only once the stream ended and the sink is done, with the failure after the values', async () => {
      const queue = new EventQueue<number>();
      const taken: number[] = [];
      queue.sinkTo((value) => (taken.push(value), true));
      const consumer = queue.next();
      let settled = false;
      consumer.catch(() => undefined).finally(() => (settled = true));
      queue.push(1);
      queue.push(2);
      queue.fail(new Error('gone'));
      await Promise.resolve();
      expect(settled).toBe(false);
      queue.sinkIdle(); // 1 written: 2 goes
      expect(taken).toEqual([1, 2]);
      queue.sinkIdle(); // 2 written
      await expect(consumer).rejects.toThrow('gone');
    });

    it('bounds what waits for a busy sink', async () => {
      const onOverflow = jest.fn();
      const queue = new EventQueue<number>(undefined, { limit: 2, onOverflow });
      queue.sinkTo(() => true);
      for (let i = 0; i < 4; i++) queue.push(i); // 0 in the sink, 1 and 2 waiting, 3 one too many
      expect(onOverflow).toHaveBeenCalledTimes(1);
      const consumer = queue.next();
      queue.sinkIdle();
      await expect(consumer).rejects.toBeInstanceOf(SlowConsumerError);
    });
  });
});
