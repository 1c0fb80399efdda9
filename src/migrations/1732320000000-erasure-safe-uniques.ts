import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Handles and e-mail addresses are unique among accounts that exist, not among erased ones. An
 * erased account's anonymised values (`deleted_…`, `…@deleted.invalid`) then never collide with
 * anything, so no one can block another user's erasure by registering those values first.
 */
export class ErasureSafeUniques1732320000000 implements MigrationInterface {
  name = 'ErasureSafeUniques1732320000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX users_handle_lower_key`);
    await q.query(`DROP INDEX users_email_lower_key`);
    await q.query(`CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle)) WHERE deleted_at IS NULL`);
    await q.query(`CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email)) WHERE deleted_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX users_handle_lower_key`);
    await q.query(`DROP INDEX users_email_lower_key`);
    await q.query(`CREATE UNIQUE INDEX users_handle_lower_key ON users (lower(handle))`);
    await q.query(`CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))`);
  }
}
