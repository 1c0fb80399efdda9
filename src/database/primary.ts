import type { DataSource, EntityManager } from 'typeorm';

const replicated = (dataSource: DataSource) => (dataSource.driver as { isReplicated?: boolean }).isReplicated === true;

/**
 * Runs `work` against the primary. Reads that must see what was just committed — replaying the
 * event log, backfilling a gap, a mutation looking up what it is about to change — cannot go to a
 * replica, which may lag behind.
 */
export async function withPrimary<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  if (!replicated(dataSource)) return work(dataSource.manager);
  const runner = dataSource.createQueryRunner('master');
  try {
    return await work(runner.manager);
  } finally {
    await runner.release();
  }
}

/** One SQL read on the primary (see `withPrimary`). */
export function queryPrimary<T = Record<string, unknown>>(dataSource: DataSource, sql: string, parameters: unknown[]): Promise<T[]> {
  return withPrimary(dataSource, (manager) => manager.query(sql, parameters));
}
