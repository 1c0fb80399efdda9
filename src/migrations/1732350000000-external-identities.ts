import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Accounts of an external identity provider: the provider's `iss` and `sub` name one Parley user,
 * made on first sight. Such a user has no password (signIn cannot reach them) and an e-mail address
 * only when the provider gave one no live account uses.
 */
export class ExternalIdentities1732350000000 implements MigrationInterface {
  name = 'ExternalIdentities1732350000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL, ALTER COLUMN email DROP NOT NULL`);
    await q.query(`
      CREATE TABLE external_identities (
        issuer text NOT NULL,
        subject text NOT NULL,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT external_identities_pkey PRIMARY KEY (issuer, subject)
      )`);
    await q.query(`CREATE INDEX external_identities_user_id_idx ON external_identities (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE external_identities`);
    // Their messages stay; the accounts cannot sign in without the provider: erased, as deleteAccount does.
    await q.query(
      `UPDATE users SET password_hash = 'erased$' || md5(random()::text), deleted_at = coalesce(deleted_at, now()),
         handle = CASE WHEN deleted_at IS NULL THEN 'deleted_' || left(replace(id::text, '-', ''), 24) ELSE handle END
       WHERE password_hash IS NULL`,
    );
    await q.query(`UPDATE users SET email = 'deleted-' || id || '@deleted.invalid' WHERE email IS NULL`);
    await q.query(`ALTER TABLE users ALTER COLUMN password_hash SET NOT NULL, ALTER COLUMN email SET NOT NULL`);
  }
}
