import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `users(search:)` matches prefixes of handle and display name ignoring case. LIKE 'abc%' can use a
 * b-tree only with pattern operators (the unique lower(handle) index uses the default collation).
 */
export class UserPrefixSearch1732290000000 implements MigrationInterface {
  name = 'UserPrefixSearch1732290000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX users_handle_prefix_idx ON users (lower(handle) text_pattern_ops)`);
    await q.query(`CREATE INDEX users_display_name_prefix_idx ON users (lower(display_name) text_pattern_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX users_display_name_prefix_idx`);
    await q.query(`DROP INDEX users_handle_prefix_idx`);
  }
}
