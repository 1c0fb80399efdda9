import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', '**/dist/', 'node_modules/', '.data/', 'coverage/', 'artifacts/', 'jest.config.js', 'jest.faults.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tool configuration in CommonJS.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    // Plain Node scripts run without a build step.
    files: ['**/*.mjs'],
    languageOptions: { globals: { URL: 'readonly', console: 'readonly', process: 'readonly' } },
  },
  {
    // What clients copy: the guide's examples, the client helper and the demo use no deprecated API
    // (Apollo Client 4.3 deprecates split, setContext, createPersistedQueryLink, …).
    files: ['docs/examples/**/*.ts', 'client/src/**/*.ts', 'test/integration/apollo-client.test.ts', 'test/integration/client-helper.test.ts'],
    languageOptions: { parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname } },
    rules: { '@typescript-eslint/no-deprecated': 'error' },
  },
  {
    // Tests read GraphQL responses of many shapes; typing each one would only restate the query.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
