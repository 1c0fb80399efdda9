import type { DataSource } from 'typeorm';

/**
 * Runs a read on the primary. Reads that must see what was just committed — replaying the event
 * log, backfilling a gap — cannot go to a replica, which may lag behind the event that named them.
 */
export async function queryPrimary<T = Record<string, unknown>>(dataSource: DataSource, sql: string, parameters: unknown[]): Promise<T[]> {
  if (!(dataSource.driver as { isReplicated?: boolean }).isReplicated) return dataSource.query(sql, parameters);
  const runner = dataSource.createQueryRunner('master');
  try {
    return await runner.query(sql, parameters);
  } finally {
    await runner.release();
  }
}
