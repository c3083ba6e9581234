// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * The sandboxes implement the public ServiceNow and Microsoft contracts independently of the
 * engine: if they shared mapping code, tests of the engine against them would prove nothing.
 * So `sandbox/` never imports `src/`, and engine code never imports `sandbox/` (tests may).
 */
const noEngineImports = {
  patterns: [
    {
      group: ['**/src/**', '../src', '../../src', '../../../src'],
      message: 'sandbox/ is an independent implementation of the public contracts: never import engine code.',
    },
  ],
};
const noSandboxImports = {
  patterns: [
    {
      group: ['**/sandbox/**', '../sandbox', '../../sandbox', '../../../sandbox'],
      message: 'Engine code must not depend on the sandbox (only tests may). Start it as a process instead.',
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-artifacts/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // Tests poke at deliberately malformed shapes; `any` there is the point, not a shortcut.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['sandbox/**/*.ts', 'sandbox/**/*.tsx'],
    rules: { 'no-restricted-imports': ['error', noEngineImports] },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    ignores: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    rules: { 'no-restricted-imports': ['error', noSandboxImports] },
  },
);
