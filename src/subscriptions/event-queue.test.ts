import { EventQueue } from './event-queue';

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
});
