import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK, type KeyLike } from 'jose';
import { createJwks, JwksUnavailableError } from './jwks';

interface Key {
  kid: string;
  privateKey: KeyLike;
  jwk: JWK;
}

async function key(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

const token = (signer: Key) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: signer.kid }).setSubject('s').setExpirationTime('5m').sign(signer.privateKey);

/** A JWKS endpoint whose keys, delay and health the test sets. */
let served: Key[] = [];
let delayMs = 0;
let failing = false;
let fetches = 0;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((_req, res) => {
    fetches += 1;
    setTimeout(() => {
      if (failing) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served.map((k) => k.jwk) }));
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  delayMs = 0;
  failing = false;
  fetches = 0;
});

describe('the remote key set', () => {
  it('waits for a refresh already under way when a token names a kid not in hand (a key just rotated in)', async () => {
    const [a, b] = await Promise.all([key('a'), key('b')]);
    served = [a];
    // Always stale: past the cooldown, every use starts a refresh in the background.
    const keys = createJwks({ url, timeoutMs: 2_000, cooldownMs: 100, maxAgeMs: 0 });
    await jwtVerify(await token(a), keys);
    served = [a, b];
    delayMs = 150;
    await new Promise((resolve) => setTimeout(resolve, 120));
    // Known key: answered from the set in hand while the background refresh runs.
    await jwtVerify(await token(a), keys);
    // The new kid arrives while that refresh is still fetching (and so within the cooldown of its
    // start): it waits for it instead of being refused.
    await expect(jwtVerify(await token(b), keys)).resolves.toBeDefined();
    expect(fetches).toBe(2);
  });

  it('keeps known keys while the provider fails, and answers an unknown kid as unavailable, not invalid, fetching at most once per cooldown', async () => {
    const [a, stranger] = await Promise.all([key('a'), key('x')]);
    served = [a];
    const failures: unknown[] = [];
    const keys = createJwks({ url, timeoutMs: 2_000, cooldownMs: 200, maxAgeMs: 60_000, onFetchFailed: (error) => failures.push(error) });
    await jwtVerify(await token(a), keys);
    failing = true;
    await new Promise((resolve) => setTimeout(resolve, 250)); // past the cooldown: an unknown kid may fetch
    const before = fetches;
    await expect(jwtVerify(await token(stranger), keys)).rejects.toBeInstanceOf(JwksUnavailableError);
    await expect(jwtVerify(await token(stranger), keys)).rejects.toBeInstanceOf(JwksUnavailableError);
    expect(fetches - before).toBe(1);
    expect(failures).toHaveLength(1);
    await expect(jwtVerify(await token(a), keys)).resolves.toBeDefined();
  });
});
