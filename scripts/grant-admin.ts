import 'reflect-metadata';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/database/open-database';
import { createLogger } from '../src/observability/logger';
import { Role } from '../src/entities/user.entity';
import { setRole } from '../src/services/accounts';

/**
 * `npm run admin:grant -- <handle>`: the first ADMIN cannot be made through the API. Uses the same
 * database as `npm start` (DATABASE_URL, else the embedded one, which must not be running).
 */
async function main(handle: string | undefined): Promise<void> {
  if (!handle) throw new Error('usage: npm run admin:grant -- <handle>');
  const config = loadConfig();
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
