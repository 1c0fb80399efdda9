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
  // worker's heap grew past 1 GB over twenty such files; a worker that large took longer than Jest's
  // half-second grace to exit after the run and was force-exited. --detectOpenHandles found no
  // handle left open, in band or per file. A worker over this much memory after a file is replaced
  // (700 MB still let a worker be force-exited now and then at fifty files, 500 MB once in two runs at fifty-one).
  workerIdleMemoryLimit: '400MB',
  testTimeout: 30000,
  setupFiles: ['reflect-metadata'],
  // The client helper as applications import it (docs/examples, the tests), from its source.
  moduleNameMapper: { '^@parley/client$': '<rootDir>/client/src/index.ts', '^@parley/client/apollo$': '<rootDir>/client/src/apollo.ts' },
};
