import type { Viewer } from './viewer';
import type { ActiveAccounts } from './active-accounts';
import { InvalidTokenError, parseBearer, type TokenService } from './jwt';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The viewer named by an `Authorization` value: null when there is none; throws
 * `InvalidTokenError` when there is one that is malformed, expired or forged. Callers turn that
 * into UNAUTHENTICATED (HTTP) or close code 4403 (WebSocket).
 */
async function viewerFromAuthorization(tokens: TokenService, authorization: unknown): Promise<Viewer | null> {
  const token = parseBearer(authorization);
  if (token === undefined) return null;
  if (token === null) throw new InvalidTokenError('invalid');
  const { sub, exp } = await tokens.verify(token);
  // A well-signed token whose subject is no user id (another service's, or a key that leaked) is
  // no one's: refused like a forged one, before it reaches a query.
  if (!UUID.test(sub)) throw new InvalidTokenError('invalid');
  return { id: sub, tokenExpiresAt: exp * 1000 };
}

/**
 * Who the bearer of an `Authorization` value is, for HTTP and WebSocket alike: null without one;
 * `InvalidTokenError` for a token that is malformed, expired, forged, or whose account was erased.
 */
export async function authenticate({ tokens, accounts }: { tokens: TokenService; accounts: ActiveAccounts }, authorization: unknown): Promise<Viewer | null> {
  const viewer = await viewerFromAuthorization(tokens, authorization);
  // The token may outlive its account: an erased user is let in nowhere.
  if (viewer && !(await accounts.isActive(viewer.id))) throw new InvalidTokenError('invalid');
  return viewer;
}
