import type { DataSource } from 'typeorm';

/**
 * Instances of a cluster start together and each sets up what it needs: runs pending migrations,
 * creates job queues. Neither TypeORM nor pg-boss serialises that DDL, so two instances would
 * apply the same migration, or deadlock creating queues. An advisory lock (one per `name` and
 * schema) lets one instance work while the others wait and then find nothing to do.
 *
 * The lock is a transaction's (pg_advisory_xact_lock), held by a transaction left open on one
 * connection while `work` runs on others, and released by its commit, or by PostgreSQL if the
 * connection dies. A session lock would not survive PgBouncer in transaction mode: the lock and
 * the unlock could reach different server connections, leaving the lock held for good.
 */
export async function withAdvisoryLock<T>(dataSource: DataSource, name: string, work: () => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner('master');
  // The configured schema, not current_schema(): before the schema exists that is another one, or
  // null, and a null key locks nothing.
  const key = `parley:${name}:${(dataSource.options as { schema?: string }).schema ?? 'public'}`;
  try {
    await runner.startTransaction();
    try {
      await runner.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [key]);
      const result = await work();
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  } finally {
    await runner.release();
  }
}
