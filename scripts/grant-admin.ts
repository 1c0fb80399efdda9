import 'reflect-metadata';
import { loadConfig } from '../src/config';
import { runningEmbeddedUrl } from '../src/database/embedded-postgres';
import { openDatabase } from '../src/database/open-database';
import { createLogger } from '../src/observability/logger';
import { Role } from '../src/entities/user.entity';
import { setRole } from '../src/services/accounts';

/**
 * `npm run admin:grant -- <handle>`: the first ADMIN cannot be made through the API. Uses the same
 * database as `npm start`: DATABASE_URL, else the embedded one — the running server's if `npm start`
 * is up, else started for the moment.
 */
async function main(handle: string | undefined): Promise<void> {
  if (!handle) throw new Error('usage: npm run admin:grant -- <handle>');
  let config = loadConfig();
  const running = config.database.url ? undefined : runningEmbeddedUrl(config.database.embedded);
  if (running) config = loadConfig({ ...process.env, DATABASE_URL: running });
  const database = await openDatabase(config, createLogger({ ...config, log: { level: 'warn', pretty: true } }));
  try {
    const user = await setRole(database.dataSource, handle, Role.ADMIN);
    console.log(`${user.handle} is now an ADMIN`);
  } finally {
    await database.close();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
