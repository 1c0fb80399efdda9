import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';
import { entityColumns } from './entity-columns';
import { leanTypes } from './timestamps';

/**
 * Hand-written reads whose rows only feed GraphQL answers: plain objects straight from
 * node-postgres (the column aliases are the property names), timestamps left as PostgreSQL's text
 * (see `Timestamp`), on the primary's pool without TypeORM's query runner, entity manager and event
 * broadcast per statement. Writes, and reads that need entities, go through TypeORM.
 *
 * With `prepared`, each distinct text becomes a named prepared statement on every connection that
 * runs it: PostgreSQL parses and plans it once per connection instead of once per call (which is
 * CPU the database shares with everything else). Off behind a pooler that cannot keep them (such as
 * PgBouncer before 1.21 in transaction mode): DATABASE_PREPARED_STATEMENTS=off.
 */
export interface Sql {
  rows<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /**
   * `alias.column AS "<prefix>property"` for an entity's columns but `omit` (never a secret such as
   * a password hash in a read that feeds answers), made once per distinct call.
   */
  columns(entity: EntityTarget<ObjectLiteral>, alias: string, options?: { prefix?: string; omit?: string[] }): string;
}

export function createSql(dataSource: DataSource, { prepared, onQuery }: { prepared: boolean; onQuery?: (sql: string, parameters?: unknown[]) => void }): Sql {
  // TypeORM's pool of the primary (with replication, `master`), where its own `query()` goes too.
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  const columnLists = new Map<string, string>();
  // The texts are Parley's own (values are always parameters), so there are only as many as the code makes.
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = names.get(text);
    if (name === undefined) names.set(text, (name = `parley_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`));
    return name;
  };
  return {
    async rows<T>(text: string, values: unknown[] = []) {
      onQuery?.(text, values);
      const result = await pool.query({ text, values, types: leanTypes, ...(prepared ? { name: nameOf(text) } : {}) });
      return result.rows as T[];
    },
    columns(entity, alias, { prefix = '', omit = [] } = {}) {
      const name = dataSource.getMetadata(entity).name;
      const key = `${name}|${alias}|${prefix}|${omit.join(',')}`;
      let list = columnLists.get(key);
      if (list === undefined) columnLists.set(key, (list = entityColumns(dataSource, entity, alias, prefix, omit)));
      return list;
    },
  };
}
