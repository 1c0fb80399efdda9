import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { DEFAULT_PASSWORD, createUser } from '../factories/user.factory';
import { expectEventually } from '../helpers/expect-eventually';
import { errorCodes, gql, runOperation } from '../helpers/gql';
import { openRawSocket, type RawSocket } from '../helpers/raw-socket';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Sessions of own accounts (issue 18, point 2): a sign-in gives a short-lived access token and a
 * refresh token; refreshing rotates it, a reused one revokes the session; signOut revokes it and
 * closes its sockets on every instance; deleteAccount revokes them all. Two instances share the
 * schema and Redis.
 */
let a: TestApp;
let b: TestApp;
const sockets: RawSocket[] = [];

beforeAll(async () => {
  a = await startTestApp();
  b = await startTestApp({ DATABASE_SCHEMA: a.config.database.schema, REDIS_KEY_PREFIX: a.config.redis.keyPrefix });
});
afterAll(async () => {
  for (const raw of sockets) raw.socket.terminate();
  await b.stop();
  await a.stop();
});

interface Grant {
  token: string;
  refreshToken: string;
  user: { handle: string };
}

async function signIn(app: TestApp, login: string): Promise<Grant> {
  const response = await runOperation(app, 'SignIn', { input: { login, password: DEFAULT_PASSWORD } });
  expect(response.errors).toBeUndefined();
  return response.data!.signIn as Grant;
}

async function refresh(app: TestApp, refreshToken: string) {
  return runOperation(app, 'RefreshSession', { refreshToken });
}

const me = async (app: TestApp, token: string) => gql<{ me: { handle: string } | null }>(app, '{ me { handle } }', {}, { token });

/** A socket signed in with `token`, acknowledged. */
async function socketOn(app: TestApp, token: string): Promise<RawSocket> {
  const raw = await openRawSocket(app.wsUrl);
  sockets.push(raw);
  await raw.init(token);
  return raw;
}

describe('sessions', () => {
  it('signs in with a 15-minute access token and a refresh token, and stores only the refresh token’s hash', async () => {
    const { user } = await createUser(a);
    const grant = await signIn(a, user.handle);
    const claims = decodeJwt(grant.token);
    expect(claims.exp! - claims.iat!).toBe(15 * 60);
    expect(typeof claims.sid).toBe('string');
    expect(grant.refreshToken).toMatch(/^[\w-]{43}$/);
    expect((await me(a, grant.token)).data?.me?.handle).toBe(user.handle);

    const rows: { hash: Buffer }[] = await a.services.dataSource.query(`SELECT r.hash FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.id = $1`, [claims.sid]);
    expect(rows.map((row) => row.hash.toString('hex'))).toEqual([createHash('sha256').update(grant.refreshToken).digest('hex')]);
    const [{ found }] = await a.services.dataSource.query(`SELECT count(*)::int AS found FROM refresh_tokens WHERE encode(hash, 'escape') LIKE '%' || $1 || '%'`, [grant.refreshToken]);
    expect(found).toBe(0);
  });

  it('rotates the refresh token on each use; a spent one presented again revokes the whole session', async () => {
    const { user } = await createUser(a);
    const first = await signIn(a, user.handle);
    const second = (await refresh(a, first.refreshToken)).data!.refreshSession as Grant;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(decodeJwt(second.token).sid).toBe(decodeJwt(first.token).sid);
    expect((await me(b, second.token)).data?.me?.handle).toBe(user.handle);
    const third = (await refresh(b, second.refreshToken)).data!.refreshSession as Grant;

    // The first token again (a copy someone kept): refused, and the session with every token of it is gone.
    const reused = await refresh(a, first.refreshToken);
    expect(errorCodes(reused)).toEqual(['UNAUTHENTICATED']);
    expect(reused.errors![0].message).toMatch(/already used/);
    expect(errorCodes(await refresh(a, third.refreshToken))).toEqual(['UNAUTHENTICATED']);
    for (const app of [a, b]) await expectEventually(async () => expect(errorCodes(await me(app, third.token))).toEqual(['UNAUTHENTICATED']));

    // Another session of the same user is untouched.
    const other = await signIn(a, user.handle);
    expect((await me(a, other.token)).data?.me?.handle).toBe(user.handle);
    expect(errorCodes(await refresh(a, 'not-a-token'))).toEqual(['UNAUTHENTICATED']);
  });

  it('signs a session out: its tokens stop working and its sockets close with 4403 on every instance, others stay', async () => {
    const { user } = await createUser(a);
    const leaving = await signIn(a, user.handle);
    const staying = await signIn(b, user.handle);
    const [onA, onB, other] = await Promise.all([socketOn(a, leaving.token), socketOn(b, leaving.token), socketOn(b, staying.token)]);

    const signedOut = await runOperation(a, 'SignOut', {}, { token: leaving.token });
    expect(signedOut.errors).toBeUndefined();
    expect(signedOut.data).toEqual({ signOut: true });
    expect(await onA.closed).toEqual({ code: 4403, reason: 'Signed out' });
    expect(await onB.closed).toEqual({ code: 4403, reason: 'Signed out' });
    for (const app of [a, b]) {
      const refused = await me(app, leaving.token);
      expect(errorCodes(refused)).toEqual(['UNAUTHENTICATED']);
      expect(refused.errors![0].message).toBe('This session was signed out; sign in again.');
    }
    expect(errorCodes(await refresh(b, leaving.refreshToken))).toEqual(['UNAUTHENTICATED']);
    // A new socket with the signed-out token is refused too.
    const again = await openRawSocket(a.wsUrl);
    sockets.push(again);
    again.send({ type: 'connection_init', payload: { authorization: `Bearer ${leaving.token}` } });
    expect((await again.closed).code).toBe(4403);

    other.send({ type: 'ping' });
    expect(await other.messages.next()).toEqual({ type: 'pong' });
    expect((await me(b, staying.token)).data?.me?.handle).toBe(user.handle);
  });

  it('closes a socket whose session was revoked without the announcement reaching its instance, within the recheck', async () => {
    const { user } = await createUser(a);
    const grant = await signIn(a, user.handle);
    const raw = await socketOn(b, grant.token);
    // Revoked behind the bus's back, as if b's subscriber had been reconnecting when it was announced.
    await a.services.dataSource.query(`UPDATE sessions SET revoked_at = now(), revoked_reason = 'test' WHERE id = $1`, [decodeJwt(grant.token).sid]);
    expect(await raw.closed).toEqual({ code: 4403, reason: 'Signed out' });
  });

  it('revokes every session of an account it erases', async () => {
    const { user } = await createUser(a);
    const grants = [await signIn(a, user.handle), await signIn(b, user.handle)];
    const deleted = await gql(a, 'mutation ($password: String!) { deleteAccount(password: $password) }', { password: DEFAULT_PASSWORD }, { token: grants[0].token });
    expect(deleted.errors).toBeUndefined();
    const [{ live }] = await a.services.dataSource.query(`SELECT count(*) FILTER (WHERE revoked_at IS NULL)::int AS live FROM sessions WHERE user_id = $1`, [user.id]);
    expect(live).toBe(0);
    for (const grant of grants) expect(errorCodes(await refresh(b, grant.refreshToken))).toEqual(['UNAUTHENTICATED']);
  });
});
