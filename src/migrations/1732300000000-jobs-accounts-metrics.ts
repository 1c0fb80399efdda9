import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What jobs and live metrics need: deleted messages keep their body until retention erases it
 * (an index finds those due), accounts can be erased and exported, each instance's per-minute
 * request figures wait in `metric_instance_minutes` for the rollup job, which counts a minute's
 * messages through a BRIN index.
 */
export class JobsAccountsMetrics1732300000000 implements MigrationInterface {
  name = 'JobsAccountsMetrics1732300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX messages_deleted_at_idx ON messages (deleted_at) WHERE deleted_at IS NOT NULL AND body IS NOT NULL`);
    // Messages arrive in time order, so a BRIN index finds a minute's worth for the rollup job at
    // almost no cost to writes.
    await q.query(`CREATE INDEX messages_created_at_brin ON messages USING brin (created_at)`);
    await q.query(`ALTER TABLE users ADD COLUMN deleted_at timestamptz`);
    await q.query(`
      CREATE TABLE account_exports (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        status varchar(16) NOT NULL DEFAULT 'PENDING' CONSTRAINT account_exports_status_check CHECK (status IN ('PENDING', 'READY', 'FAILED')),
        requested_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        document jsonb
      )`);
    await q.query(`CREATE INDEX account_exports_user_id_idx ON account_exports (user_id, requested_at)`);
    await q.query(`
      CREATE TABLE metric_instance_minutes (
        minute timestamptz NOT NULL,
        instance_id varchar(64) NOT NULL,
        requests integer NOT NULL DEFAULT 0,
        errors integer NOT NULL DEFAULT 0,
        latency_buckets integer[] NOT NULL,
        CONSTRAINT metric_instance_minutes_pkey PRIMARY KEY (minute, instance_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE metric_instance_minutes`);
    await q.query(`DROP TABLE account_exports`);
    await q.query(`ALTER TABLE users DROP COLUMN deleted_at`);
    await q.query(`DROP INDEX messages_created_at_brin`);
    await q.query(`DROP INDEX messages_deleted_at_idx`);
  }
}
