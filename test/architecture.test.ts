import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '..');
const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** The rule violations dependency-cruiser reports, with Parley's rules, for a tree of files. */
async function violations(cwd: string): Promise<string[]> {
  const output = await promisify(execFile)(DEPCRUISE, ['--config', CONFIG, '--output-type', 'json', 'src'], { cwd, maxBuffer: 64 * 1024 * 1024 }).then(
    ({ stdout }) => stdout,
    (error: { stdout?: string }) => error.stdout ?? '',
  );
  const report = JSON.parse(output) as { summary: { violations: Violation[] } };
  return report.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

/** A scratch tree of `src/` files whose imports break (or keep) the rules. */
async function violationsOf(files: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-layers-'));
  try {
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', target: 'es2022' } }));
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
    return await violations(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the layers of ARCHITECTURE.md, as npm run lint enforces them', () => {
  it('hold for Parley’s own code', async () => {
    expect(await violations(ROOT)).toEqual([]);
  }, 60_000);

  it('refuse an import that points up a layer, and schema code in an entity', async () => {
    expect(
      await violationsOf({
        'src/entities/user.entity.ts': `import { UserResolver } from '../resolvers/user.resolver';\nexport const user = UserResolver;\n`,
        'src/resolvers/user.resolver.ts': `export class UserResolver {}\n`,
        'src/services/accounts.ts': `import { attach } from '../websocket/server';\nexport const a = attach;\n`,
        'src/websocket/server.ts': `export const attach = 1;\n`,
      }),
    ).toEqual([
      'entities-know-no-schema-code: src/entities/user.entity.ts → src/resolvers/user.resolver.ts',
      'no-import-up-from-domain: src/services/accounts.ts → src/websocket/server.ts',
      'no-import-up-from-foundation: src/entities/user.entity.ts → src/resolvers/user.resolver.ts',
      // websocket/server.ts also starts a server: only the composition root calls it.
      'only-the-composition-root-starts-things: src/services/accounts.ts → src/websocket/server.ts',
    ]);
  }, 60_000);

  it('refuse folders that depend on each other, and modules outside every layer', async () => {
    const found = await violationsOf({
      'src/pagination/cursor.ts': `import { pool } from '../database/pool';\nexport const cursor = pool;\n`,
      'src/database/pool.ts': `import { page } from '../pagination/page';\nexport const pool = page;\n`,
      'src/pagination/page.ts': `export const page = 1;\n`,
      'src/misc/helpers.ts': `import { page } from '../pagination/page';\nexport const helper = page;\n`,
    });
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/^no-folder-cycle: src\/(pagination|database)\/? → src\/(database|pagination)\/?$/), 'every-module-in-a-layer: src/misc/helpers.ts → src/pagination/page.ts']));
  }, 60_000);

  it('let only the composition root start things, while types may be imported anywhere', async () => {
    expect(
      await violationsOf({
        'src/events/bus.ts': `export interface EventBus { close(): void }\nexport function createInProcessBus(): EventBus { return { close() {} }; }\n`,
        'src/services/news.ts': `import { createInProcessBus } from '../events/bus';\nexport const bus = createInProcessBus();\n`,
        'src/services/typed.ts': `import type { EventBus } from '../events/bus';\nexport let bus: EventBus | undefined;\n`,
        'src/app.ts': `import { createInProcessBus } from './events/bus';\nexport const bus = createInProcessBus();\n`,
      }),
    ).toEqual(['only-the-composition-root-starts-things: src/services/news.ts → src/events/bus.ts']);
  }, 60_000);
});
