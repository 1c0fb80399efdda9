import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { withAdvisoryLock } from './advisory-lock';
import { createDataSource } from './data-source';
import { startEmbeddedPostgres } from './embedded-postgres';
import { boundPoolWait } from './pool-wait';

export interface OpenDatabase {
  dataSource: DataSource;
  /** The primary's URL (the embedded server's when no DATABASE_URL was given), for other clients such as pg-boss. */
  url: string;
  /** Whether this process started the embedded PostgreSQL (no DATABASE_URL). */
  embedded: boolean;
  /** The node-postgres pools, named for metrics: `primary`, then `replica-1`, `replica-2`, … */
  pools: NamedPool[];
  /** Closes the pools, then stops the embedded server if one was started. */
  close(): Promise<void>;
}

export interface NamedPool {
  name: string;
  pool: Pool;
}

/** node-postgres pools of TypeORM's driver: the primary's (`master`), and each replica's with replication. */
function poolsOf(dataSource: DataSource): Pool[] {
  const driver = dataSource.driver as unknown as { master: Pool; slaves?: Pool[] };
  return [driver.master, ...(driver.slaves ?? [])];
}

/**
 * Unqualified SQL must land in DATABASE_SCHEMA: the schema must come first on the search_path.
 * Without PgBouncer a startup parameter sees to that; behind it, PgBouncer's database entry or the
 * role must, and a mistake there would otherwise create tables in another schema, or show up as
 * "relation does not exist" at the first request.
 */
async function checkSearchPath(dataSource: DataSource, config: Config): Promise<void> {
  const [{ path, user }] = (await dataSource.query(`SELECT current_setting('search_path') AS path, current_user AS user`)) as { path: string; user: string }[];
  // PostgreSQL's default, `"$user", public`, starts with the role's own schema, which rarely exists:
  // without one of that name, the first schema that can be written to is the next.
  const entries = path.split(',').map((entry) => entry.trim().replace(/^"(.*)"$/, '$1'));
  const [{ exists }] = (await dataSource.query(`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists`, [user])) as { exists: boolean }[];
  const first = entries[0] === '$user' && !exists ? entries[1] : entries[0] === '$user' ? user : entries[0];
  if (first === config.database.schema) return;
  const how = config.database.pgbouncer
    ? `Behind PgBouncer (DATABASE_PGBOUNCER=on) its database entry must set it: connect_query='SET search_path TO ${config.database.schema}' (or ALTER ROLE … SET search_path).`
    : 'Something (the role, the database, a pooler) overrides the startup parameter that sets it.';
  throw new Error(`Connections have search_path ${JSON.stringify(path)}, not DATABASE_SCHEMA "${config.database.schema}" first: unqualified SQL would land elsewhere. ${how}`);
}

/**
 * The database as config describes it: DATABASE_URL, else an embedded PostgreSQL; connected, and
 * migrated when MIGRATIONS_RUN is on. Used by the server and by the command-line tools alike.
 */
export async function openDatabase(config: Config, logger: Logger, onQuery?: (sql: string, parameters?: unknown[]) => void): Promise<OpenDatabase> {
  const embedded = config.database.url ? undefined : await startEmbeddedPostgres(config.database.embedded, logger);
  try {
    const url = config.database.url ?? embedded!.url;
    const dataSource = createDataSource(config, { url, onQuery });
    await dataSource.initialize();
    for (const pool of poolsOf(dataSource)) boundPoolWait(pool, config.database.poolQueueTimeoutMs);
    try {
      // Before anything is written: a wrong search_path would put tables and rows in another schema.
      await checkSearchPath(dataSource, config);
      if (config.database.migrationsRun) {
        // Under the lock too: two CREATE SCHEMA IF NOT EXISTS at once can both miss it and one then
        // fails on the catalogue's unique index (instances starting together on an empty database).
        const applied = await withAdvisoryLock(dataSource, 'migrations', async () => {
          await dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${config.database.schema}"`);
          return dataSource.runMigrations({ transaction: 'each' });
        });
        if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name) }, 'applied migrations');
      }
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return {
      dataSource,
      url,
      embedded: embedded !== undefined,
      pools: poolsOf(dataSource).map((pool, i) => ({ name: i === 0 ? 'primary' : `replica-${i}`, pool })),
      close: async () => {
        await dataSource.destroy();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
}
