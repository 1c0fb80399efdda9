import { orderByKeys } from './order-by-keys';

describe('orderByKeys', () => {
  it('returns one value per key, in key order, null for misses', () => {
    const rows = [{ id: 'c' }, { id: 'a' }];
    expect(orderByKeys('test', ['a', 'b', 'c', 'a'], rows, (r) => r.id)).toEqual([{ id: 'a' }, null, { id: 'c' }, { id: 'a' }]);
  });

  it('fails loudly on rows for keys that were not asked for', () => {
    expect(() => orderByKeys('users-by-id', ['a'], [{ id: 'z' }], (r) => r.id)).toThrow(
      'users-by-id batch returned a row for key z, which was not requested',
    );
  });
});
