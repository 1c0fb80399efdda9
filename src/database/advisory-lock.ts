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
    // Waiting holds no transaction: behind PgBouncer a transaction blocked on the lock would pin a
    // server connection, and enough instances starting at once would leave none for the holder's work.
    for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
      await runner.startTransaction();
      // The holder sits idle in its transaction while `work` runs on other connections: a server's
      // idle_in_transaction_session_timeout must not end it (and free the lock) mid-migration.
      await runner.query(`SET LOCAL idle_in_transaction_session_timeout = 0`);
      const [{ locked }] = (await runner.query(`SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked`, [key])) as { locked: boolean }[];
      if (locked) break;
      await runner.rollbackTransaction();
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const result = await work();
    await runner.commitTransaction();
    return result;
  } finally {
    // After a failure (in `work`, or while waiting): the open transaction goes, and the lock with it.
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    await runner.release();
  }
}
