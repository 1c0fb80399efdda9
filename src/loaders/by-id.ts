import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import { entityColumns, hydrate } from '../database/entity-columns';
import { orderByKeys } from './order-by-keys';

/**
 * Rows of one entity by primary key, one hand-written statement per batch (TypeORM's query
 * builder costs more than the query itself on these hot paths). No authorization: callers check.
 */
export function createByIdLoader<T extends { id: string }>(dataSource: DataSource, entity: new () => T, name: string): DataLoader<string, T | null> {
  const { tableName } = dataSource.getMetadata(entity);
  const select = entityColumns(dataSource, entity, 't');
  return new DataLoader(async (ids) => {
    const rows: Record<string, unknown>[] = await dataSource.query(`SELECT ${select} FROM ${tableName} t WHERE t.id = ANY($1::uuid[])`, [ids]);
    return orderByKeys(name, ids, rows.map((row) => hydrate(entity, row)), (row) => row.id);
  });
}
