import { createTokenService, InvalidTokenError, parseBearer } from './jwt';

const secret = 's'.repeat(32);

describe('token service', () => {
  it('round-trips the user id and says when the token was issued and expires', async () => {
    const tokens = createTokenService({ secret, ttlSeconds: 60, now: () => 1_700_000_000_000 });
    await expect(tokens.verify(await tokens.issue('user-1'))).resolves.toEqual({ sub: 'user-1', iat: 1_700_000_000, exp: 1_700_000_060 });
  });

  it('rejects an expired token as expired', async () => {
    let now = Date.now();
    const tokens = createTokenService({ secret, ttlSeconds: 60, now: () => now });
    const token = await tokens.issue('user-1');
    now += 61_000;
    await expect(tokens.verify(token)).rejects.toEqual(new InvalidTokenError('expired'));
  });

  it('rejects a token signed with another secret or altered', async () => {
    const ours = createTokenService({ secret, ttlSeconds: 60 });
    const theirs = createTokenService({ secret: 't'.repeat(32), ttlSeconds: 60 });
    await expect(ours.verify(await theirs.issue('user-1'))).rejects.toEqual(new InvalidTokenError('invalid'));
    const [header, payload, signature] = (await ours.issue('user-1')).split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'admin', iss: 'parley', exp: 9e9 })).toString('base64url');
    await expect(ours.verify([header, forged, signature].join('.'))).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(ours.verify([header, payload].join('.'))).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('parses bearer headers', () => {
    expect(parseBearer(undefined)).toBeUndefined();
    expect(parseBearer('Bearer abc.def')).toBe('abc.def');
    expect(parseBearer('bearer abc')).toBe('abc');
    expect(parseBearer('Basic abc')).toBeNull();
    expect(parseBearer(42)).toBeNull();
  });
});
