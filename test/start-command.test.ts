import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SERVER_NODE_OPTIONS } from '../scripts/lib/node-server';

const ROOT = path.resolve(__dirname, '..');

// Production, the README's `npm start`, the cluster script and the benchmarks run the server with
// the same Node options (scripts/lib/node-server.ts says why): a figure measured one way holds the other.
describe('the server starts with the same Node options everywhere', () => {
  it('npm start and npm run dev', () => {
    const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts.start).toBe(`node ${SERVER_NODE_OPTIONS.join(' ')} dist/src/main.js`);
    expect(scripts.dev).toContain(`"node ${SERVER_NODE_OPTIONS.join(' ')} dist/src/main.js"`);
  });

  it('the Dockerfile', () => {
    const dockerfile = readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`CMD ${JSON.stringify(['node', ...SERVER_NODE_OPTIONS, 'dist/src/main.js']).replaceAll(',', ', ')}`);
  });
});
