import type { DataSource } from 'typeorm';

/**
 * Instances of a cluster start together and each sets up what it needs: runs pending migrations,
 * creates job queues. Neither TypeORM nor pg-boss serialises that DDL, so two instances would
 * apply the same migration, or deadlock creating queues. A session advisory lock (one per `name`
 * and schema), held on one dedicated connection, lets one instance work while the others wait and
 * then find nothing to do.
 */
export async function withAdvisoryLock<T>(dataSource: DataSource, name: string, work: () => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner('master');
  // The configured schema, not current_schema(): before the schema exists that is another one, or
  // null, and a null key locks nothing.
  const key = `parley:${name}:${(dataSource.options as { schema?: string }).schema ?? 'public'}`;
  try {
    await runner.query(`SELECT pg_advisory_lock(hashtext($1))`, [key]);
    try {
      return await work();
    } finally {
      await runner.query(`SELECT pg_advisory_unlock(hashtext($1))`, [key]);
    }
  } finally {
    await runner.release();
  }
}
