import 'reflect-metadata';
import { loadConfig } from './src/config';
import { createDataSource } from './src/database/data-source';

/**
 * The DataSource for TypeORM's CLI (`npm run migration:generate -- src/migrations/<name>`,
 * `npm run migration:run`). It needs DATABASE_URL: the embedded server is started by the app only.
 */
const config = loadConfig();
if (!config.database.url) {
  throw new Error('DATABASE_URL must be set for the migration CLI (the embedded database runs only inside `npm start`).');
}
export default createDataSource(config, { url: config.database.url });
