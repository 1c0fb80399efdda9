import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * `alias.column AS "property"` for every column of an entity, so hand-written SQL (LATERAL pages,
 * batched look-ups) returns rows that `hydrate` turns into real entity instances.
 */
export function entityColumns(dataSource: DataSource, entity: EntityTarget<ObjectLiteral>, alias: string): string {
  return dataSource
    .getMetadata(entity)
    .columns.map((column) => `${alias}.${column.databaseName} AS "${column.propertyName}"`)
    .join(', ');
}

/** An entity instance from a raw row selected with `entityColumns` (extra `__` fields dropped). */
export function hydrate<T extends object>(entity: new () => T, row: Record<string, unknown>): T {
  const instance = new entity();
  for (const [name, value] of Object.entries(row)) if (!name.startsWith('__')) (instance as Record<string, unknown>)[name] = value;
  return instance;
}
