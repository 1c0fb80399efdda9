import type { AuthChecker } from 'type-graphql';
import type { Context, Viewer } from '../context';
import type { Role } from '../entities/user.entity';
import { ForbiddenError, UnauthenticatedError } from '../errors';
import { InvalidTokenError, parseBearer, type TokenService } from './jwt';

/**
 * `@Authorized()` needs a signed-in viewer; `@Authorized(Role.ADMIN)` also needs that role, read
 * from the database (through the request's loader) so a revoked role takes effect at once.
 */
export const authChecker: AuthChecker<Context, Role> = async ({ context }, roles) => {
  if (!context.viewer) throw new UnauthenticatedError();
  if (roles.length === 0) return true;
  const user = await context.loaders.usersById.load(context.viewer.id);
  if (!user) throw new UnauthenticatedError('Your account no longer exists.');
  if (!roles.includes(user.role)) throw new ForbiddenError(`This needs the ${roles.join(' or ')} role.`);
  return true;
};

/**
 * The viewer named by an `Authorization` value: null when there is none; throws
 * `InvalidTokenError` when there is one that is malformed, expired or forged. Callers turn that
 * into UNAUTHENTICATED (HTTP) or close code 4403 (WebSocket).
 */
export async function viewerFromAuthorization(tokens: TokenService, authorization: unknown): Promise<Viewer | null> {
  const token = parseBearer(authorization);
  if (token === undefined) return null;
  if (token === null) throw new InvalidTokenError('invalid');
  const { sub, exp } = await tokens.verify(token);
  return { id: sub, tokenExpiresAt: exp * 1000 };
}
