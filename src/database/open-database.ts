import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { createDataSource } from './data-source';
import { startEmbeddedPostgres } from './embedded-postgres';

export interface OpenDatabase {
  dataSource: DataSource;
  /** The primary's URL (the embedded server's when no DATABASE_URL was given), for other clients such as pg-boss. */
  url: string;
  /** Whether this process started the embedded PostgreSQL (no DATABASE_URL). */
  embedded: boolean;
  /** Closes the pools, then stops the embedded server if one was started. */
  close(): Promise<void>;
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
    try {
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
