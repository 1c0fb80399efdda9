/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/client'],
  testMatch: ['**/*.test.ts'],
  // The fault suite runs on its own: npm run test:faults (jest.faults.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/faults/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Integration files each own a PostgreSQL schema and a Redis key prefix, so two workers can share the services.
  maxWorkers: 2,
  // Each test file loads the whole app (schema, entities, Apollo) in a fresh module registry, and a
  // worker's heap grew past 1 GB over twenty such files: a worker over this much memory after a file
  // is replaced. (A worker force-exited at the end of a run was once blamed on heap size; the cause
  // was ref'd timers a test abandoned, alive past Jest's half-second grace when their file finished
  // last: test/helpers/async-queue.ts and health.test.ts now unref theirs. pg-boss's stop() can still
  // leave a one-second timer behind.)
  workerIdleMemoryLimit: '400MB',
  testTimeout: 30000,
  setupFiles: ['reflect-metadata'],
  // The client helper as applications import it (docs/examples, the tests), from its source.
  moduleNameMapper: { '^@parley/client$': '<rootDir>/client/src/index.ts', '^@parley/client/apollo$': '<rootDir>/client/src/apollo.ts' },
};
