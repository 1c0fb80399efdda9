import { jwtVerify, SignJWT } from 'jose';
import { createJwks, JwksUnavailableError } from '../../src/security/jwks';
import { JwksServer, signingKey, type SigningKey } from '../helpers/jwks-server';

const token = (signer: SigningKey) => new SignJWT({}).setProtectedHeader({ alg: signer.alg, kid: signer.kid }).setSubject('s').setExpirationTime('5m').sign(signer.privateKey);

let jwks: JwksServer;
let url: string;

beforeAll(async () => {
  jwks = new JwksServer();
  url = await jwks.start();
});
afterAll(() => jwks.stop());
beforeEach(() => {
  jwks.mode = 'ok';
  jwks.delayMs = 0;
});

describe('the remote key set', () => {
  it('waits for a refresh already under way when a token names a kid not in hand (a key just rotated in)', async () => {
    const [a, b] = await Promise.all([signingKey('a', 'ES256'), signingKey('b', 'ES256')]);
    jwks.keys = [a];
    // Always stale: past the cooldown, every use starts a refresh in the background.
    const keys = createJwks({ url, timeoutMs: 2_000, cooldownMs: 100, maxAgeMs: 0 });
    const before = jwks.fetches;
    await jwtVerify(await token(a), keys);
    jwks.keys = [a, b];
    jwks.delayMs = 150;
    await new Promise((resolve) => setTimeout(resolve, 120));
    // Known key: answered from the set in hand while the background refresh runs.
    await jwtVerify(await token(a), keys);
    // The new kid arrives while that refresh is still fetching (and so within the cooldown of its
    // start): it waits for it instead of being refused.
    await expect(jwtVerify(await token(b), keys)).resolves.toBeDefined();
    expect(jwks.fetches - before).toBe(2);
  });

  it('keeps known keys while the provider fails, and answers an unknown kid as unavailable, not invalid, fetching at most once per cooldown', async () => {
    const [a, stranger] = await Promise.all([signingKey('a', 'ES256'), signingKey('x', 'ES256')]);
    jwks.keys = [a];
    const failures: unknown[] = [];
    const keys = createJwks({ url, timeoutMs: 2_000, cooldownMs: 200, maxAgeMs: 60_000, onFetchFailed: (error) => failures.push(error) });
    await jwtVerify(await token(a), keys);
    jwks.mode = 'failing';
    await new Promise((resolve) => setTimeout(resolve, 250)); // past the cooldown: an unknown kid may fetch
    const before = jwks.fetches;
    await expect(jwtVerify(await token(stranger), keys)).rejects.toBeInstanceOf(JwksUnavailableError);
    await expect(jwtVerify(await token(stranger), keys)).rejects.toBeInstanceOf(JwksUnavailableError);
    expect(jwks.fetches - before).toBe(1);
    expect(failures).toHaveLength(1);
    await expect(jwtVerify(await token(a), keys)).resolves.toBeDefined();
  });
});
