// `npm run check:versions`: fails when an installed package is older than the release that fixed a
// problem Parley relies on being fixed. Run by .ci/run before the tests.
import { readFileSync } from 'node:fs';

/** package → [lowest allowed, first disallowed major, why]. */
const FLOORS = {
  '@apollo/server': ['5.5.0', 6, 'earlier 5.x releases lack fixes Parley depends on (CSRF prevention and request handling)'],
  ws: ['8.21.0', 9, 'earlier releases have known denial-of-service fixes missing'],
  graphql: ['16.15.0', 17, 'earlier releases spend minutes validating nested-fragment documents; 17 conflicts with type-graphql'],
};

// [major, minor, patch, 0 for a pre-release (5.5.0-rc.1 comes before 5.5.0) else 1]
const parse = (version) => [...version.split('-')[0].split('.').map(Number), version.includes('-') ? 0 : 1];
const older = (a, b) => {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
};

let failed = false;
for (const [name, [floor, ceilingMajor, why]] of Object.entries(FLOORS)) {
  // Read from node_modules directly: some packages do not export their package.json.
  const { version } = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8'));
  const installed = parse(version);
  if (older(installed, parse(floor)) || installed[0] >= ceilingMajor) {
    console.error(`✗ ${name} ${version} is installed; Parley needs >= ${floor} and < ${ceilingMajor}: ${why}`);
    failed = true;
  } else {
    console.log(`✓ ${name} ${version}`);
  }
}
process.exit(failed ? 1 : 0);
