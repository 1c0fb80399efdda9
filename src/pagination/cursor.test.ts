import { createCursorCodec } from './cursor';

const codec = createCursorCodec('s'.repeat(32));

describe('cursor codec', () => {
  it('round-trips a key within its own list', () => {
    const cursor = codec.encode('messages:a', [42, 'x', null]);
    expect(codec.decode('messages:a', cursor)).toEqual([42, 'x', null]);
  });

  it.each([
    ['another list', () => codec.decode('messages:b', codec.encode('messages:a', [1]))],
    ['a tampered payload', () => {
      const [, signature] = codec.encode('messages:a', [1]).split('.');
      return codec.decode('messages:a', `${Buffer.from(JSON.stringify(['messages:a', [2]])).toString('base64url')}.${signature}`);
    }],
    ['another secret', () => codec.decode('messages:a', createCursorCodec('t'.repeat(32)).encode('messages:a', [1]))],
    ['garbage', () => codec.decode('messages:a', 'not-a-cursor')],
  ])('rejects a cursor from %s with BAD_USER_INPUT', (_case, decode) => {
    expect(decode).toThrow(expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }));
  });
});
