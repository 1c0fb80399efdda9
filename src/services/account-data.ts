import { randomBytes } from 'node:crypto';
import { User } from '../entities/user.entity';
import { UnauthenticatedError } from '../errors';
import { verifyPassword } from '../security/passwords';
import type { Viewer } from '../security/viewer';
import { Topic } from '../events/topics';
import { commitChange, type ChangeDeps } from './changes';
import { departFrom } from './memberships';
import { revokeSessionsOf } from './sessions';

/** How recent a sign-in at the external provider must be to erase an account that has no password. */
const RECENT_SIGN_IN_MS = 10 * 60_000;

/**
 * Erases an account (the password confirms it; for an external identity's account, a recent sign-in). The user leaves every conversation — their live
 * subscriptions end — and their row is anonymised rather than deleted, so the messages they wrote
 * stay, shown with a "Deleted user" author. Their exports are deleted; their sessions are revoked,
 * their tokens stop working and their open sockets are closed on every instance.
 */
export async function deleteAccount(deps: ChangeDeps, viewer: Viewer, password: string): Promise<void> {
  const userId = viewer.id;
  const user = await deps.dataSource.getRepository(User).findOneBy({ id: userId });
  if (!user || user.deletedAt) throw new UnauthenticatedError('Wrong password.');
  if (user.passwordHash === null) {
    // An external identity's account has no password here: a sign-in at the provider within the
    // last minutes confirms it instead (the token's auth_time; a refreshed token's iat is no sign-in).
    if (viewer.authenticatedAt === undefined || Date.now() - viewer.authenticatedAt > RECENT_SIGN_IN_MS) {
      throw new UnauthenticatedError(`Sign in again (within the last ${RECENT_SIGN_IN_MS / 60_000} minutes) to delete this account.`);
    }
  } else if (!(await verifyPassword(password, user.passwordHash))) throw new UnauthenticatedError('Wrong password.');
  await commitChange(deps, async (change) => {
    // The user first: joins share-lock the user before their conversation (requireUsers), so none
    // can add this user back between the memberships read below and the commit. NO KEY UPDATE: a
    // message that mentions the user (its foreign key key-share-locks the user row) does not wait
    // for the erasure while holding its conversation, which the erasure waits for.
    const [locked] = await change.manager.query(`SELECT deleted_at FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId]);
    if (!locked || locked.deleted_at) throw new UnauthenticatedError('Wrong password.');
    const memberships: { id: string }[] = await change.manager.query(
      // Locked in id order: two erasures sharing conversations cannot deadlock.
      `SELECT c.id FROM conversations c JOIN memberships m ON m.conversation_id = c.id AND m.user_id = $1 ORDER BY c.id FOR UPDATE OF c`,
      [userId],
    );
    // Then every membership of the user, before the first leave moves the user's unread totals: a
    // read (markRead) takes its membership, then the totals, so it cannot be left holding one while
    // this waits for it holding the other.
    await change.manager.query(`SELECT 1 FROM memberships WHERE user_id = $1 ORDER BY conversation_id FOR UPDATE`, [userId]);
    for (const { id } of memberships) await departFrom(change, id, userId);
    const anonymous = userId.replace(/-/g, '').slice(0, 24);
    await change.manager.query(
      `UPDATE users SET handle = $2, display_name = 'Deleted user', email = $3, password_hash = $4, last_seen_at = NULL, deleted_at = now() WHERE id = $1`,
      // The password hash is no scrypt hash, so nothing verifies against it.
      [userId, `deleted_${anonymous}`, `deleted-${userId}@deleted.invalid`, `erased$${randomBytes(8).toString('hex')}`],
    );
    await change.manager.query(`DELETE FROM account_exports WHERE user_id = $1`, [userId]);
    // The provider's subject may come back: it then starts a new account.
    await change.manager.query(`DELETE FROM external_identities WHERE user_id = $1`, [userId]);
    await revokeSessionsOf(change, userId, 'account deleted');
    change.publish(Topic.accountClosed(), { userId });
  });
}
