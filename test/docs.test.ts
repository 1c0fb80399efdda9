import { readdirSync, readFileSync } from 'node:fs';
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
