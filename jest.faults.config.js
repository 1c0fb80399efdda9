/**
 * The fault suite (`npm run test:faults`): real outages of real services, killed processes, slow and
 * hostile clients. One file at a time — they stop and start services and load the machine.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  maxWorkers: 1,
  testTimeout: 180000,
  setupFiles: ['reflect-metadata'],
};
