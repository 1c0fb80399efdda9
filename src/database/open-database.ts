import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { createDataSource } from './data-source';
import { startEmbeddedPostgres } from './embedded-postgres';

export interface OpenDatabase {
  dataSource: DataSource;
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
    const dataSource = createDataSource(config, { url: config.database.url ?? embedded!.url, onQuery });
    await dataSource.initialize();
    try {
      if (config.database.migrationsRun) {
        await dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${config.database.schema}"`);
        const applied = await withMigrationLock(dataSource, () => dataSource.runMigrations({ transaction: 'each' }));
        if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.name) }, 'applied migrations');
      }
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return {
      dataSource,
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
 * Instances of a cluster start together and each runs pending migrations; TypeORM takes no lock, so
 * two would apply the same migration and one would fail. A session advisory lock, held on one
 * dedicated connection, lets one instance migrate while the others wait and then find nothing to do.
 */
async function withMigrationLock<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner('master');
  try {
    await runner.query(`SELECT pg_advisory_lock(hashtext('parley:migrations:' || current_schema()))`);
    try {
      return await work();
    } finally {
      await runner.query(`SELECT pg_advisory_unlock(hashtext('parley:migrations:' || current_schema()))`);
    }
  } finally {
    await runner.release();
  }
}
