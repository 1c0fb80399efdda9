import { readdirSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const guides = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Every TypeScript block of a guide, with the example file it says it is (if it says so). */
function typescriptBlocks(guide: string): { line: number; example: string | null; code: string }[] {
  const lines = readFileSync(path.join(ROOT, guide), 'utf8').split('\n');
  const blocks: { line: number; example: string | null; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)$/.test(lines[i])) continue;
    const end = lines.indexOf('```', i + 1);
    const marker = /^<!-- example: (\S+) -->$/.exec(lines[i - 1] ?? '');
    blocks.push({ line: i + 1, example: marker?.[1] ?? null, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

describe('the guides', () => {
  it.each(guides)('%s shows only TypeScript that is an example file, typechecked and run by the tests, exactly as it is', (guide) => {
    for (const block of typescriptBlocks(guide)) {
      if (!block.example) throw new Error(`${guide}:${block.line}: a TypeScript block without "<!-- example: docs/examples/<file>.ts -->" above it is an untested snippet`);
      const file = readFileSync(path.join(ROOT, block.example), 'utf8').trimEnd();
      if (block.code !== file) throw new Error(`${guide}:${block.line}: the block differs from ${block.example}: paste the file again`);
    }
  });
});

describe('what clients copy', () => {
  // The guide's examples and the client helper, checked with the project's own ESLint config (its
  // @typescript-eslint/no-deprecated block): Apollo Client 4.3 deprecates split, setContext,
  // createPersistedQueryLink and more, and a guide that teaches them teaches code that will break.
  it('uses no deprecated API', async () => {
    // ESLint as its own process: its flat config is ESM, which Jest's module sandbox cannot import.
    const { stdout } = await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/eslint'), ['--format', 'json', 'docs/examples', 'client/src'], { cwd: ROOT, maxBuffer: 64 << 20 }).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? '[]' }), // exit code 1 when a rule fails: the report still says which
    );
    const results = JSON.parse(stdout) as { filePath: string; messages: { ruleId: string | null; fatal?: boolean; line: number; message: string }[] }[];
    const deprecated = results.flatMap((result) =>
      result.messages.filter((m) => m.ruleId === '@typescript-eslint/no-deprecated' || m.fatal).map((m) => `${path.relative(ROOT, result.filePath)}:${m.line} ${m.message}`),
    );
    expect(results.length).toBeGreaterThan(3);
    expect(deprecated).toEqual([]);
  }, 120_000);
});
