import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { DataSource, EntityTarget, ObjectLiteral } from 'typeorm';
import { entityColumns } from './entity-columns';
import { prepareValue, StatementBatch, type BatchedStatement } from './statement-batch';
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
 *
 * Reads asked for in the same turn share one round trip: DataLoaders that fire together (a page's
 * members, messages, last messages and unread counts) send their statements in one write, on one
 * pooled connection (see `StatementBatch`), instead of one round trip, one socket write and one
 * connection each; each answer comes back as soon as PostgreSQL has it.
 */
export interface Sql {
  /** A read-only statement's rows. It may share a round trip and an implicit transaction with other reads. */
  rows<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /**
   * A statement's rows, in a round trip and transaction of its own: every statement that changes
   * data, and reads that may be slow (searches), which would hold up the cheap reads queued behind
   * them on a shared connection.
   */
  alone<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /**
   * `alias.column AS "<prefix>property"` for an entity's columns but `omit` (never a secret such as
   * a password hash in a read that feeds answers), made once per distinct call.
   */
  columns(entity: EntityTarget<ObjectLiteral>, alias: string, options?: { prefix?: string; omit?: string[] }): string;
}

/**
 * The most reads one round trip carries. PostgreSQL runs a connection's statements one after
 * another, so a poll phase's reads beyond this go out on further connections and run side by side.
 */
const BATCH_MAX = 8;

export interface SqlOptions {
  prepared: boolean;
  /** Sees every statement, when it is asked for. */
  onQuery?: (sql: string, parameters?: unknown[]) => void;
  /** Sees every round trip, with the statements it carries. */
  onRoundTrip?: (statements: string[]) => void;
}

export function createSql(dataSource: DataSource, { prepared, onQuery, onRoundTrip }: SqlOptions): Sql {
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
  const alone = async <T>(text: string, values: unknown[]): Promise<T[]> => {
    onRoundTrip?.([text]);
    return (await pool.query({ text, values, types: leanTypes, ...(prepared ? { name: nameOf(text) } : {}) })).rows as T[];
  };
  const runAlone = (statement: BatchedStatement) => alone(statement.text, statement.values).then(statement.resolve, statement.reject);

  // Reads asked for since the last flush. The flush waits for the event loop's check phase: loaders
  // of one level do not all dispatch in the same tick (a resolver may await a promise or two before
  // it loads), and by then every callback of this poll phase has asked for what it needs, so under
  // load the reads of several requests share a write too.
  let pending: BatchedStatement[] = [];
  const enqueue = (statement: BatchedStatement) => {
    pending.push(statement);
    if (pending.length === 1) setImmediate(flush);
  };
  const flush = () => {
    const statements = pending;
    pending = [];
    for (let start = 0; start < statements.length; start += BATCH_MAX) void send(statements.slice(start, start + BATCH_MAX));
  };
  const send = async (statements: BatchedStatement[]) => {
    if (statements.length === 1) return runAlone(statements[0]);
    onRoundTrip?.(statements.map((statement) => statement.text));
    let client;
    try {
      client = await pool.connect();
    } catch (error) {
      for (const statement of statements) statement.reject(error);
      return;
    }
    // A connection lost mid-batch fails the batch's statements (handleError); as with pool.query,
    // its 'error' event must not go unheard while the connection is out of the pool.
    const lost = () => undefined;
    client.on('error', lost);
    const batch = new StatementBatch(statements, leanTypes);
    client.query(batch);
    const { skipped, broken } = await batch.settled;
    client.off('error', lost);
    // A connection lost or ended by the server is not reused; one that refused a statement is.
    client.release(broken);
    // PostgreSQL skipped the reads after a refused one: they go out again, with the next batch.
    for (const statement of skipped) enqueue(statement);
  };

  return {
    rows<T>(text: string, values: unknown[] = []) {
      onQuery?.(text, values);
      return new Promise<T[]>((resolve, reject) => {
        let encoded: unknown[];
        try {
          encoded = values.map(prepareValue);
        } catch (error) {
          reject(error);
          return;
        }
        enqueue({ text, values: encoded, name: prepared ? nameOf(text) : undefined, resolve: resolve as (rows: unknown[]) => void, reject });
      });
    },
    alone<T>(text: string, values: unknown[] = []) {
      onQuery?.(text, values);
      return alone<T>(text, values);
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
