import { createTokenService } from '../../src/security/jwt';
import { DEFAULT_PASSWORD, createUser } from '../factories/user.factory';
import { errorCodes, gql } from '../helpers/gql';
import { TEST_JWT_SECRET, startTestApp, type TestApp } from '../helpers/test-app';
import { connectWs } from '../helpers/ws-client';

const SIGN_UP = `mutation ($input: SignUpInput!) { signUp(input: $input) { token user { id handle displayName email role online createdAt } } }`;
const SIGN_IN = `mutation ($input: SignInInput!) { signIn(input: $input) { token user { handle } } }`;
const ME = `{ me { id handle email role } }`;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.stop());

async function userCount(): Promise<number> {
  const [{ count }] = await app.services.dataSource.query('SELECT count(*)::int AS count FROM users');
  return count;
}

function signUpInput(overrides: Record<string, string> = {}) {
  return { handle: 'ada_lovelace', displayName: 'Ada Lovelace', email: 'Ada@Example.com', password: DEFAULT_PASSWORD, ...overrides };
}

describe('accounts', () => {
  it('signs up, returns a token that works for me, and shows email only to the user themself', async () => {
    const signUp = await gql<{ signUp: { token: string; user: Record<string, unknown> } }>(app, SIGN_UP, { input: signUpInput() });
    expect(signUp.errors).toBeUndefined();
    const { token, user } = signUp.data!.signUp;
    expect(user).toMatchObject({ handle: 'ada_lovelace', displayName: 'Ada Lovelace', role: 'USER', online: false, email: null });
    expect(user.id).not.toMatch(/-/); // opaque global id, not the raw uuid

    const me = await gql(app, ME, {}, { token });
    expect(me.data).toEqual({ me: { id: user.id, handle: 'ada_lovelace', email: 'ada@example.com', role: 'USER' } });
  });

  it('signs in with handle or e-mail, in any case', async () => {
    for (const login of ['ada_lovelace', 'ADA_LOVELACE', 'ada@example.com']) {
      const signIn = await gql<{ signIn: { token: string } }>(app, SIGN_IN, { input: { login, password: DEFAULT_PASSWORD } });
      expect(signIn.errors).toBeUndefined();
      const me = await gql(app, ME, {}, { token: signIn.data!.signIn.token });
      expect(me.data).toMatchObject({ me: { handle: 'ada_lovelace' } });
    }
  });

  it('answers me with null when no token is sent', async () => {
    expect((await gql(app, ME)).data).toEqual({ me: null });
  });

  it('refuses a taken handle (in any case) or e-mail with CONFLICT and writes no second row', async () => {
    const before = await userCount();
    const handle = await gql(app, SIGN_UP, { input: signUpInput({ handle: 'Ada_Lovelace', email: 'other@example.com' }) });
    expect(errorCodes(handle)).toEqual(['CONFLICT']);
    expect(handle.errors![0].extensions).toMatchObject({ field: 'handle' });
    const email = await gql(app, SIGN_UP, { input: signUpInput({ handle: 'someone_else', email: 'ADA@example.com' }) });
    expect(errorCodes(email)).toEqual(['CONFLICT']);
    // The field, never the address: sign-up must not read like a directory of who is registered.
    expect(email.errors![0]).toMatchObject({ message: 'That e-mail address cannot be used for a new account.', extensions: { field: 'email' } });
    expect(await userCount()).toBe(before);
  });

  it('lets exactly one of several concurrent sign-ups with one handle through', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => gql(app, SIGN_UP, { input: signUpInput({ handle: 'race_handle', email: `race${i}@example.com` }) })),
    );
    expect(results.filter((r) => !r.errors)).toHaveLength(1);
    expect(results.flatMap(errorCodes)).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT', 'CONFLICT']);
  });

  it.each([
    ['a handle that is too short', { handle: 'ab' }, 'handle'],
    ['a handle with other characters', { handle: 'ada-lovelace!' }, 'handle'],
    ['a handle that is too long', { handle: 'a'.repeat(33) }, 'handle'],
    ['an invalid e-mail', { email: 'not-an-email' }, 'email'],
    ['a short password', { password: 'short-pw' }, 'password'],
    ['a blank display name', { displayName: '   ' }, 'displayName'],
  ])('refuses %s with BAD_USER_INPUT naming the field, and writes nothing', async (_case, overrides, field) => {
    const before = await userCount();
    const response = await gql(app, SIGN_UP, { input: signUpInput({ handle: 'fresh_handle', email: 'fresh@example.com', ...overrides }) });
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors![0].message).toContain(`${field}:`);
    expect(response.errors![0].extensions!.fields).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    expect(JSON.stringify(response.errors)).not.toContain(DEFAULT_PASSWORD);
    expect(await userCount()).toBe(before);
  });

  it('gives a wrong password and an unknown login the same UNAUTHENTICATED answer', async () => {
    const wrongPassword = await gql(app, SIGN_IN, { input: { login: 'ada_lovelace', password: 'not the password' } });
    const unknownLogin = await gql(app, SIGN_IN, { input: { login: 'nobody_here', password: DEFAULT_PASSWORD } });
    expect(errorCodes(wrongPassword)).toEqual(['UNAUTHENTICATED']);
    expect(wrongPassword.errors![0].message).toBe(unknownLogin.errors![0].message);
    expect(errorCodes(unknownLogin)).toEqual(['UNAUTHENTICATED']);
  });

  it('never exposes the password hash', async () => {
    const response = await gql(app, `{ me { passwordHash } }`);
    expect(errorCodes(response)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });
});

describe('tokens', () => {
  const expiredToken = (userId: string) =>
    createTokenService({ secret: TEST_JWT_SECRET, ttlSeconds: 60, now: () => Date.now() - 120_000 }).issue(userId);

  function tamper(token: string): string {
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })).toString('base64url');
    return [header, forged, signature].join('.');
  }

  it('rejects an expired token on HTTP with 401 UNAUTHENTICATED', async () => {
    const { user } = await createUser(app);
    const response = await gql(app, ME, {}, { token: await expiredToken(user.id) });
    expect(response.status).toBe(401);
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    expect(response.errors![0].message).toContain('expired');
  });

  it('rejects a tampered or malformed token on HTTP with 401 UNAUTHENTICATED', async () => {
    const { token } = await createUser(app);
    for (const headers of [{ authorization: `Bearer ${tamper(token)}` }, { authorization: 'Bearer nonsense' }, { authorization: 'Basic abc' }]) {
      const response = await gql(app, ME, {}, { headers });
      expect(response.status).toBe(401);
      expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('accepts a valid token in connection_init and answers over the socket', async () => {
    const { token, user } = await createUser(app);
    const ws = connectWs(app.wsUrl, { token });
    try {
      const result = await ws.execute(`{ me { handle online } }`);
      expect(result.data).toEqual({ me: { handle: user.handle, online: true } });
    } finally {
      await ws.dispose();
    }
  });

  it.each([
    ['expired', async (userId: string, _token: string) => `Bearer ${await expiredToken(userId)}`],
    ['tampered', async (_userId: string, token: string) => `Bearer ${tamper(token)}`],
    ['malformed', async () => 'Token abc'],
  ])('closes the socket with 4403 for an %s token', async (_case, authorization) => {
    const { user, token } = await createUser(app);
    const ws = connectWs(app.wsUrl, { authorization: await authorization(user.id, token) });
    try {
      expect((await ws.closed).code).toBe(4403);
    } finally {
      await ws.dispose();
    }
  });
});
