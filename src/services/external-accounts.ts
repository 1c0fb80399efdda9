import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { violatedUniqueIndex } from '../database/postgres-errors';
import type { ExternalIdentity } from '../security/external-identity';
import { cleanDisplayName } from './text';

/**
 * The Parley user of an external identity (issuer and subject), made on first sight: a handle
 * derived from the handle claim (made unique with a number), the `name` claim as display name, and
 * the e-mail address only when no live account uses it (an address is never a way into someone
 * else's account). The account has no password. Two first requests at once make one account.
 */
export async function accountForExternalIdentity(dataSource: DataSource, identity: ExternalIdentity): Promise<string> {
  const known = await userOf(dataSource.manager, identity);
  if (known) return known;
  return dataSource.transaction(async (manager) => {
    // Never from the e-mail address: a handle is public, the address is not.
    const base = handleFrom(identity.handleHint ?? identity.name);
    const displayName = displayNameOf(identity.name ?? identity.handleHint, base);
    let email = identity.email && (await emailFree(manager, identity.email)) ? identity.email.toLowerCase() : null;
    for (let attempt = 0; ; attempt++) {
      const handle = candidate(base, attempt);
      // A savepoint per attempt: a taken handle (or e-mail, taken meanwhile) must not end the transaction.
      await manager.query('SAVEPOINT new_user');
      try {
        const [{ id }] = await manager.query(`INSERT INTO users (handle, display_name, email, password_hash) VALUES ($1, $2, $3, NULL) RETURNING id`, [
          handle,
          displayName,
          email,
        ]);
        const linked = await manager.query(
          `INSERT INTO external_identities (issuer, subject, user_id) VALUES ($1, $2, $3) ON CONFLICT ON CONSTRAINT external_identities_pkey DO NOTHING RETURNING user_id`,
          [identity.issuer, identity.subject, id],
        );
        if (linked.length > 0) return id as string;
        // Another request made the account first (its transaction committed while this one waited on
        // the key): this user is not needed.
        await manager.query('ROLLBACK TO SAVEPOINT new_user');
        return (await userOf(manager, identity))!;
      } catch (error) {
        const index = violatedUniqueIndex(error);
        if ((index !== 'users_handle_lower_key' && index !== 'users_email_lower_key') || attempt >= 40) throw error;
        await manager.query('ROLLBACK TO SAVEPOINT new_user');
        // The address was taken meanwhile: the account goes without one.
        if (index === 'users_email_lower_key') email = null;
      }
    }
  });
}

async function userOf(manager: EntityManager, { issuer, subject }: ExternalIdentity): Promise<string | undefined> {
  const [row] = await manager.query(`SELECT user_id FROM external_identities WHERE issuer = $1 AND subject = $2`, [issuer, subject]);
  return row?.user_id;
}

async function emailFree(manager: EntityManager, email: string): Promise<boolean> {
  return (await manager.query(`SELECT 1 FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL`, [email])).length === 0;
}

/**
 * A handle as sign-up allows them (3–32 of a-z, 0-9, _; not `deleted_…`) from whatever the claim
 * holds: the part before an @, accents dropped, anything else turned into _.
 */
export function handleFrom(hint: string | undefined): string {
  const local = (hint ?? '').split('@')[0];
  const ascii = local
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '')
    .replace(/^(deleted_)+/i, '')
    .slice(0, 24);
  return ascii.length >= 3 ? ascii : `user${ascii ? `_${ascii}` : ''}`;
}

/** The handle to try: the base, then base_2, base_3 …, then with a random suffix. */
function candidate(base: string, attempt: number): string {
  if (attempt === 0) return base;
  if (attempt < 10) return `${base}_${attempt + 1}`;
  return `${base}_${randomBytes(3).toString('hex')}`;
}

function displayNameOf(name: string | undefined, handle: string): string {
  try {
    return cleanDisplayName(name ?? handle);
  } catch {
    return handle;
  }
}
