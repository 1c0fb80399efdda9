import { fromGlobalId, fromGlobalIdOf, toGlobalId } from './global-id';

const uuid = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

describe('global ids', () => {
  it('round-trips type and id', () => {
    const id = toGlobalId('Message', uuid);
    expect(id).not.toContain(uuid);
    expect(fromGlobalId(id)).toEqual({ type: 'Message', id: uuid });
    expect(fromGlobalIdOf('Message', id)).toBe(uuid);
  });

  it.each(['', 'garbage', toGlobalId('Message', uuid) + '!', Buffer.from(`Secret:${uuid}`).toString('base64url'), Buffer.from('User:1').toString('base64url')])(
    'rejects %j with BAD_USER_INPUT',
    (id) => {
      expect(() => fromGlobalId(id)).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
    },
  );

  it('rejects an id of another type', () => {
    expect(() => fromGlobalIdOf('User', toGlobalId('Message', uuid))).toThrow('is not a User id');
  });
});
