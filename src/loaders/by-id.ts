import DataLoader from 'dataloader';
import type { Sql } from '../database/sql';
import type { EntityTarget, ObjectLiteral } from 'typeorm';
import { orderByKeys } from './order-by-keys';

/**
 * Rows of one table by primary key, as plain records, one hand-written statement per batch
 * (TypeORM's query builder costs more than the query itself on these hot paths). `omit` names
 * columns no answer may carry. No authorization: callers check.
 */
export function createByIdLoader<T extends { id: string }>(sql: Sql, entity: EntityTarget<ObjectLiteral>, table: string, name: string, omit: string[] = []): DataLoader<string, T | null> {
  const text = `SELECT ${sql.columns(entity, 't', { omit })} FROM ${table} t WHERE t.id = ANY($1::uuid[])`;
  return new DataLoader(async (ids) => orderByKeys(name, ids, await sql.rows<T>(text, [ids]), (row) => row.id));
}
