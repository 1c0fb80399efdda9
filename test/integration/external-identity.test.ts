import { SignJWT } from 'jose';
import { createTokenService } from '../../src/security/jwt';
import { handleFrom } from '../../src/services/external-accounts';
import { createUser } from '../factories/user.factory';
import { errorCodes, gql } from '../helpers/gql';
import { JwksServer, signingKey, type SigningKey } from '../helpers/jwks-server';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/test-app';
import { connectWs, type TestWsClient } from '../helpers/ws-client';

const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'parley-api';

interface Claims {
  sub?: string;
  iss?: string;
  aud?: string;
  /** Seconds from now. */
  expiresIn?: number;
  preferred_username?: string;
  name?: string;
  email?: string;
  email_verified?: boolean;
  auth_time?: number;
}

async function tokenFor(key: SigningKey, claims: Claims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { iss = ISSUER, aud = AUDIENCE, expiresIn = 300, sub = 'subject-1', ...rest } = claims;
  return new SignJWT({ ...rest })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt(now - 1)
    .setExpirationTime(now + expiresIn)
    .sign(key.privateKey);
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

let jwks: JwksServer;
let app: TestApp;
let rsa: SigningKey;
let ec: SigningKey;
const sockets: TestWsClient[] = [];

beforeAll(async () => {
  [rsa, ec] = await Promise.all([signingKey('rsa-1', 'RS256'), signingKey('ec-1', 'ES256')]);
  jwks = new JwksServer();
  jwks.keys = [rsa, ec];
  const url = await jwks.start();
  app = await startTestApp({
    AUTH_JWKS_URL: url,
    AUTH_ISSUER: ISSUER,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_JWKS_TIMEOUT: '300ms',
    AUTH_JWKS_COOLDOWN: '100ms',
  });
});
afterAll(async () => {
  await Promise.all(sockets.map((socket) => socket.dispose()));
  await app.stop();
  await jwks.stop();
});

const me = (token: string) => gql<{ me: { id: string; handle: string; displayName: string; email: string | null } | null }>(app, '{ me { id handle displayName email } }', {}, { token });

/** The close code of a socket that sends `token` in connection_init, or 'open' when it is let in. */
async function socketWith(token: string): Promise<number | 'open'> {
  const client = connectWs(app.wsUrl, { token });
  sockets.push(client);
  return Promise.race([client.closed.then(({ code }) => code), client.connected.then(() => 'open' as const)]);
}

describe('tokens of an external identity provider', () => {
  it('accepts RS256 and ES256 tokens from its keys on HTTP and WebSocket, and makes the account on first sight', async () => {
    const first = await me(await tokenFor(rsa, { sub: 'alice-sub', preferred_username: 'Alicé.Smith@corp.example', name: 'Alice Smith', email: 'alice@corp.example', email_verified: true }));
    expect(first.status).toBe(200);
    expect(first.data!.me).toMatchObject({ handle: 'Alice_Smith', displayName: 'Alice Smith', email: 'alice@corp.example' });
    // The same subject, another key and claims: the same account.
    const again = await me(await tokenFor(ec, { sub: 'alice-sub', preferred_username: 'someone-else' }));
    expect(again.data!.me!.id).toBe(first.data!.me!.id);
    expect(await socketWith(await tokenFor(ec, { sub: 'alice-sub' }))).toBe('open');
    const [{ count }] = await app.services.dataSource.query(`SELECT count(*)::int AS count FROM external_identities WHERE subject = 'alice-sub'`);
    expect(count).toBe(1);
  });

  it('derives unique handles, keeps an e-mail address a live account uses for that account, and makes one account for concurrent first requests', async () => {
    const owner = await createUser(app, { email: 'taken@corp.example' });
    const answers = await Promise.all(Array.from({ length: 4 }, async () => me(await tokenFor(rsa, { sub: 'bob-sub', preferred_username: 'bob', email: 'TAKEN@corp.example', email_verified: true }))));
    expect(new Set(answers.map((a) => a.data!.me!.id)).size).toBe(1);
    const bob = answers[0].data!.me!;
    expect(bob.email).toBeNull();
    const other = (await me(await tokenFor(rsa, { sub: 'other-bob', preferred_username: 'bob' }))).data!.me!;
    expect([bob.handle, other.handle].sort()).toEqual(['bob', 'bob_2']);
    expect(owner.user.email).toBe('taken@corp.example');
    expect(handleFrom('ab')).toBe('user_ab');
    expect(handleFrom('deleted_mallory')).toBe('mallory');
    expect(handleFrom('deleted_deleted_bob')).toBe('bob');
    // An address the provider does not vouch for is not kept, and a handle never comes from one.
    const unverified = (await me(await tokenFor(rsa, { sub: 'vera-sub', name: 'Vera Lynn', email: 'vera.private@corp.example' }))).data!.me!;
    expect(unverified).toMatchObject({ handle: 'Vera_Lynn', email: null });
    expect(handleFrom(undefined)).toBe('user');
  });

  it.each([
    ['an expired token', () => tokenFor(rsa, { expiresIn: -60 })],
    ['another issuer', () => tokenFor(rsa, { iss: 'https://evil.example.test/' })],
    ['another audience', () => tokenFor(rsa, { aud: 'someone-else' })],
    ['an unknown kid', async () => tokenFor({ ...(await signingKey('nobody', 'RS256')) })],
    ['a key not in the set, under a known kid', async () => tokenFor({ ...(await signingKey('rsa-1', 'RS256')) })],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice-sub', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}.`],
    [
      'an HS256 token signed with the public key',
      () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
          .setSubject('alice-sub')
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(rsa.publicPem)),
    ],
  ])('refuses %s: UNAUTHENTICATED (401) on HTTP, 4403 on WebSocket', async (_what, make) => {
    const token = await make();
    const answer = await me(token);
    expect({ status: answer.status, codes: errorCodes(answer) }).toEqual({ status: 401, codes: ['UNAUTHENTICATED'] });
    expect(await socketWith(token)).toBe(4403);
  });

  it('picks up a rotated key without a restart', async () => {
    const rotated = await signingKey('rsa-2', 'RS256');
    jwks.keys = [rsa, rotated, ec];
    // The new kid is unknown: the set is fetched again (once the cooldown after the last fetch has passed).
    await new Promise((resolve) => setTimeout(resolve, 150));
    const answer = await me(await tokenFor(rotated, { sub: 'carol-sub', preferred_username: 'carol' }));
    expect(answer.data!.me!.handle).toBe('carol');
  });

  it('keeps known keys working while the JWKS endpoint hangs or fails, and answers an unknown kid with SERVICE_UNAVAILABLE instead of hanging', async () => {
    await me(await tokenFor(rsa, { sub: 'dave-sub' })); // rsa-1 is in hand
    const stranger = await signingKey('rsa-new', 'RS256');
    for (const mode of ['hanging', 'failing'] as const) {
      jwks.mode = mode;
      await new Promise((resolve) => setTimeout(resolve, 150)); // past the cooldown: a fetch will be tried
      const known = await me(await tokenFor(rsa, { sub: 'dave-sub' }));
      expect(known.errors).toBeUndefined();
      const started = Date.now();
      const unknown = await me(await tokenFor(stranger, { sub: 'dave-sub' }));
      // Bounded by AUTH_JWKS_TIMEOUT (300 ms) when hanging: the endpoint itself would never answer.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect({ status: unknown.status, codes: errorCodes(unknown), retry: unknown.errors?.[0].extensions?.retryAfterSeconds }).toEqual({
        status: 503,
        codes: ['SERVICE_UNAVAILABLE'],
        retry: 1,
      });
      // On a socket, neither let in nor refused for good: 1013, which graphql-ws clients retry.
      expect(await socketWith(await tokenFor(stranger, { sub: 'dave-sub' }))).toBe(1013);
      jwks.release();
    }
    jwks.mode = 'ok';
  });

  it('lets own password accounts in beside it', async () => {
    const own = await createUser(app);
    expect((await me(own.token)).data!.me!.handle).toBe(own.user.handle);
  });

  it('erases an external account only after a recent sign-in; the subject then starts a new account', async () => {
    const stale = await tokenFor(rsa, { sub: 'erin-sub', preferred_username: 'erin', auth_time: Math.floor(Date.now() / 1000) - 3600 });
    const erin = (await me(stale)).data!.me!;
    for (const token of [stale, await tokenFor(rsa, { sub: 'erin-sub' })]) {
      // An hour-old sign-in, or none stated (a refreshed token's iat is no sign-in).
      const refused = await gql(app, 'mutation { deleteAccount(password: "") }', {}, { token });
      expect(errorCodes(refused)).toEqual(['UNAUTHENTICATED']);
      expect(refused.errors![0].message).toMatch(/Sign in again/);
    }
    const fresh = await tokenFor(rsa, { sub: 'erin-sub', auth_time: Math.floor(Date.now() / 1000) });
    expect((await gql(app, 'mutation { deleteAccount(password: "") }', {}, { token: fresh })).data).toEqual({ deleteAccount: true });
    const after = (await me(await tokenFor(rsa, { sub: 'erin-sub', preferred_username: 'erin' }))).data!.me!;
    expect(after.id).not.toBe(erin.id);
    expect(after.handle).toBe('erin');
  });
});

describe('AUTH_PASSWORDS=off', () => {
  let closed: TestApp;

  beforeAll(async () => {
    closed = await startTestApp({ AUTH_JWKS_URL: app.config.auth.external!.jwksUrl, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, AUTH_PASSWORDS: 'off' });
  });
  afterAll(() => closed.stop());

  it('refuses sign-up, sign-in and Parley-signed tokens, and lets the provider’s tokens in', async () => {
    const signUp = await gql(closed, `mutation { signUp(input: { handle: "frank", displayName: "Frank", email: "frank@example.com", password: "correct horse battery" }) { token } }`);
    expect(errorCodes(signUp)).toEqual(['FORBIDDEN']);
    const signIn = await gql(closed, `mutation { signIn(input: { login: "frank", password: "correct horse battery" }) { token } }`);
    expect(errorCodes(signIn)).toEqual(['FORBIDDEN']);
    const ownToken = await createTokenService({ secret: TEST_JWT_SECRET, ttlSeconds: 60 }).issue('00000000-0000-4000-8000-000000000000');
    const own = await gql(closed, '{ me { id } }', {}, { token: ownToken });
    expect({ status: own.status, codes: errorCodes(own) }).toEqual({ status: 401, codes: ['UNAUTHENTICATED'] });
    const external = await gql<{ me: { handle: string } }>(closed, '{ me { handle } }', {}, { token: await tokenFor(ec, { sub: 'gina-sub', preferred_username: 'gina' }) });
    expect(external.data!.me.handle).toBe('gina');
  });
});
