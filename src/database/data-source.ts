import { DataSource } from 'typeorm';
import type { Config } from '../config';
import { entities } from '../entities';
import { migrations } from '../migrations';
import { poolTypes } from './timestamps';

export interface DataSourceOptions {
  /** Primary database; may differ from config when the embedded server supplied it. */
  url: string;
  /** Receives every SQL statement and its parameters (tests count statements; benchmarks EXPLAIN them). */
  onQuery?: (sql: string, parameters?: unknown[]) => void;
}

/**
 * The startup parameter that puts Parley's schema first on every connection's search_path; none
 * behind PgBouncer, which refuses it (its database entry sets the search_path: `connect_query`).
 */
export function searchPathOption(config: Config): { options?: string } {
  return config.database.pgbouncer ? {} : { options: `-c search_path=${config.database.schema}` };
}

/**
 * Builds (does not connect) the TypeORM DataSource. Every connection starts with Parley's schema on
 * its search_path, so unqualified SQL in migrations and services lands there. With read replicas,
 * TypeORM sends SELECTs outside transactions to them and everything else to the primary.
 */
export function createDataSource(config: Config, { url, onQuery }: DataSourceOptions): DataSource {
  const schema = config.database.schema;
  const extra = {
    max: config.database.poolMax,
    ...searchPathOption(config),
    // Opening a connection; the wait for a busy pool's is bounded apart (pool-wait.ts).
    connectionTimeoutMillis: 5_000,
    application_name: 'parley',
    // Timestamps parsed to the millisecond as PostgreSQL wrote them (node-postgres's float math loses one now and then).
    types: poolTypes,
  };
  return new DataSource({
    type: 'postgres',
    ...(config.database.readUrls.length > 0
      ? { replication: { master: { url }, slaves: config.database.readUrls.map((readUrl) => ({ url: readUrl })) } }
      : { url }),
    schema,
    entities,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    migrationsRun: false,
    // gen_random_uuid() is built into PostgreSQL 13+; no uuid-ossp extension is needed.
    installExtensions: false,
    synchronize: false,
    extra,
    logging: onQuery ? ['query'] : false,
    logger: onQuery
      ? {
          logQuery: (sql: string, parameters?: unknown[]) => onQuery(sql, parameters),
          logQueryError: () => undefined,
          logQuerySlow: () => undefined,
          logSchemaBuild: () => undefined,
          logMigration: () => undefined,
          log: () => undefined,
        }
      : undefined,
  });
}
