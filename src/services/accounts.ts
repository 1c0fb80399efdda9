import type { DataSource } from 'typeorm';
import { Role, User } from '../entities/user.entity';
import { ConflictError, NotFoundError, UnauthenticatedError } from '../errors';
import { hashPassword, verifyAgainstNothing, verifyPassword } from '../security/passwords';
import { violatedUniqueIndex } from '../database/postgres-errors';
import type { Sql } from '../database/sql';
import type { UserRecord } from '../entities/records';
import type { CursorKey } from '../pagination/cursor';
import type { PageRows } from '../pagination/connection';
import type { KeyOrder } from '../pagination/keyset';
import type { PageRequest } from '../pagination/page-args';
import { loadPage } from '../pagination/single-page';
import { cleanDisplayName } from './text';

export interface NewAccount {
  handle: string;
  displayName: string;
  email: string;
  password: string;
}

const UNIQUE_FIELDS: Record<string, 'handle' | 'email'> = {
  users_handle_lower_key: 'handle',
  users_email_lower_key: 'email',
};

/**
 * Creates a user. Uniqueness is left to the database's unique indexes (checking first would race
 * with a concurrent sign-up); a violation becomes CONFLICT naming the field.
 */
export async function createAccount(dataSource: DataSource, input: NewAccount): Promise<User> {
  const repository = dataSource.getRepository(User);
  const user = repository.create({
    handle: input.handle,
    displayName: cleanDisplayName(input.displayName),
    email: input.email.trim().toLowerCase(),
    passwordHash: await hashPassword(input.password),
    role: Role.USER,
  });
  try {
    return await repository.save(user);
  } catch (error) {
    const field = UNIQUE_FIELDS[violatedUniqueIndex(error) ?? ''];
    // Names the field, never the value: an answer that repeats the e-mail address reads like a
    // directory (signIn answers alike for unknown logins and wrong passwords for the same reason).
    if (field) throw new ConflictError(field === 'email' ? 'That e-mail address cannot be used for a new account.' : 'That handle is taken.', { field });
    throw error;
  }
}

/**
 * Checks a handle-or-email and password. An unknown login and a wrong password fail with the same
 * message after the same amount of work, so neither reveals which accounts exist.
 */
export async function authenticate(dataSource: DataSource, login: string, password: string): Promise<User> {
  const user = await dataSource
    .getRepository(User)
    .createQueryBuilder('user')
    // Erased accounts may share their anonymised values with nothing live, but never sign in.
    .where('(lower(user.handle) = lower(:login) OR lower(user.email) = lower(:login)) AND user.deleted_at IS NULL', { login: login.trim() })
    .getOne();
  // An external identity's account has no password: it answers like an unknown login.
  const valid = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : await verifyAgainstNothing(password);
  if (!user || !valid) throw new UnauthenticatedError('Wrong login or password.');
  return user;
}

/** A user by handle, any case; erased accounts are not found. */
export function findUserByHandle(dataSource: DataSource, handle: string): Promise<User | null> {
  return dataSource
    .getRepository(User)
    .createQueryBuilder('user')
    .where('lower(user.handle) = lower(:handle) AND user.deleted_at IS NULL', { handle: handle.trim() })
    .getOne();
}

/** Used by the `grant-admin` command: the first ADMIN cannot be made through the API. */
export async function setRole(dataSource: DataSource, handle: string, role: Role): Promise<User> {
  const user = await findUserByHandle(dataSource, handle);
  if (!user) throw new NotFoundError(`No user with handle ${JSON.stringify(handle)}.`);
  user.role = role;
  return dataSource.getRepository(User).save(user);
}

/** Handle order, matching the unique index on lower(handle). */
const USER_ORDER: KeyOrder = { columns: [{ sql: 'lower(u.handle)', type: 'text' }], descending: false };

/** Users whose handle or display name starts with `search` (any case); all users without one. */
export async function searchUsers(
  sql: Sql,
  search: string | null,
  request: PageRequest,
  cursorKey: CursorKey | null,
): Promise<PageRows<UserRecord>> {
  const prefix = search ? `${search.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  // A prefix of one letter scans many names: alone, so that no cheap read waits behind it.
  return loadPage<UserRecord>({ rows: sql.alone }, {
    request,
    cursorKey,
    order: USER_ORDER,
    from: 'users u',
    where: prefix ? `(lower(u.handle) LIKE $1 OR lower(u.display_name) LIKE $1) AND u.deleted_at IS NULL` : 'u.deleted_at IS NULL',
    params: prefix ? [prefix] : [],
    select: sql.columns(User, 'u', { omit: ['passwordHash'] }),
  });
}
