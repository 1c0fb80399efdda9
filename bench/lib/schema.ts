import type { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/database/open-database';
import { createLogger } from '../../src/observability/logger';

/** A fresh schema with Parley's migrations applied; dropped at the end of the run. */
export async function freshSchema(databaseUrl: string, schema: string, fill?: (dataSource: DataSource) => Promise<unknown>): Promise<void> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema, LOG_LEVEL: 'warn', NODE_ENV: 'test' });
  const database = await openDatabase(config, createLogger(config));
  try {
    await fill?.(database.dataSource);
  } finally {
    await database.close();
  }
}
