import type { Viewer } from './viewer';
import type { ActiveAccounts } from './active-accounts';
import type { LiveSessions } from './live-sessions';
import { decodeJwt } from 'jose';
import type { ExternalTokens } from './external-identity';
import { InvalidTokenError, parseBearer, type TokenService } from './jwt';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What authentication needs from the composition root. */
export interface Authentication {
  tokens: TokenService;
  accounts: ActiveAccounts;
  sessions: LiveSessions;
  externalTokens?: ExternalTokens;
  config: { auth: { passwords: boolean; external?: { issuer: string } } };
}

/**
 * The viewer named by an `Authorization` value: null when there is none; throws
 * `InvalidTokenError` when there is one that is malformed, expired or forged, and
 * `JwksUnavailableError` when the external provider's keys cannot be had to tell. Callers turn those
 * into UNAUTHENTICATED / SERVICE_UNAVAILABLE (HTTP) or close codes 4403 / 1013 (WebSocket).
 *
 * A token whose (unverified) `iss` is the external provider's goes to its verifier, which accepts
 * RS256/ES256 signatures from its keys only; any other goes to Parley's own HS256 verifier, which
 * wants issuer `parley` — so neither key can vouch for the other's tokens.
 */
async function viewerFromAuthorization(auth: Authentication, authorization: unknown): Promise<Viewer | null> {
  const token = parseBearer(authorization);
  if (token === undefined) return null;
  if (token === null) throw new InvalidTokenError('invalid');
  const { externalTokens, config } = auth;
  if (externalTokens && issuerOf(token) === config.auth.external?.issuer) return externalTokens.verify(token);
  if (!config.auth.passwords) throw new InvalidTokenError('invalid');
  const { sub, exp, iat, sid } = await auth.tokens.verify(token);
  // A well-signed token whose subject is no user id (another service's, or a key that leaked) is
  // no one's: refused like a forged one, before it reaches a query.
  if (!UUID.test(sub) || (sid !== undefined && !UUID.test(sid))) throw new InvalidTokenError('invalid');
  // A session signed out (or revoked for a reused refresh token) lets none of its tokens in.
  if (sid !== undefined && !(await auth.sessions.isLive(sid, sub))) throw new InvalidTokenError('revoked');
  return { id: sub, tokenExpiresAt: exp * 1000, ...(iat !== undefined ? { authenticatedAt: iat * 1000 } : {}), ...(sid !== undefined ? { sessionId: sid } : {}) };
}

/** The `iss` a token claims, unverified (it only chooses the verifier); undefined when it cannot be read. */
function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

/**
 * Who the bearer of an `Authorization` value is, for HTTP and WebSocket alike: null without one;
 * `InvalidTokenError` for a token that is malformed, expired, forged, or whose account was erased.
 */
export async function authenticate(auth: Authentication, authorization: unknown): Promise<Viewer | null> {
  let viewer = await viewerFromAuthorization(auth, authorization);
  if (viewer && auth.externalTokens && !(await auth.accounts.isActive(viewer.id))) {
    // An external subject remembered with an account erased since (an instance that missed the
    // announcement): forget it and look again; the subject then gets a new account.
    auth.externalTokens.forget(viewer.id);
    viewer = await viewerFromAuthorization(auth, authorization);
  }
  // The token may outlive its account: an erased user is let in nowhere.
  if (viewer && !(await auth.accounts.isActive(viewer.id))) throw new InvalidTokenError('invalid');
  return viewer;
}
