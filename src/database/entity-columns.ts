import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * `alias.column AS "property"` for every column of an entity, so hand-written SQL (LATERAL pages,
 * batched look-ups) returns rows that `hydrate` turns into real entity instances.
 */
export function entityColumns(dataSource: DataSource, entity: EntityTarget<ObjectLiteral>, alias: string, prefix = '', omit: string[] = []): string {
  return dataSource
    .getMetadata(entity)
    .columns.filter((column) => !omit.includes(column.propertyName))
    .map((column) => `${alias}.${column.databaseName} AS "${prefix}${column.propertyName}"`)
    .join(', ');
}

/**
 * Splits a row selected with a second, prefixed entity (`entityColumns(…, 'author.')`) into the
 * row's own columns and that entity, hydrated.
 */
export function hydrateJoined<T extends object, J extends object>(entity: new () => T, joined: new () => J, prefix: string, row: Record<string, unknown>): [T, J] {
  const own = new entity() as Record<string, unknown>;
  const other = new joined() as Record<string, unknown>;
  for (const name in row) {
    if (name.startsWith(prefix)) other[name.slice(prefix.length)] = row[name];
    else if (!name.startsWith('__')) own[name] = row[name];
  }
  return [own as T, other as J];
}

/** An entity instance from a raw row selected with `entityColumns` (extra `__` fields dropped). */
export function hydrate<T extends object>(entity: new () => T, row: Record<string, unknown>): T {
  const instance = new entity();
  for (const [name, value] of Object.entries(row)) if (!name.startsWith('__')) (instance as Record<string, unknown>)[name] = value;
  return instance;
}
