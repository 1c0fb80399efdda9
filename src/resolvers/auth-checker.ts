import type { AuthChecker } from 'type-graphql';
import type { Context } from '../context';
import type { Role } from '../entities/user.entity';
import { ForbiddenError, UnauthenticatedError } from '../errors';

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
