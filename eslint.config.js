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

/**
 * The layers of `src/`, lowest first: a layer imports only layers below it, so arrows point one
 * way (docs/architecture.md). `domain/` is pure: no I/O modules at all.
 */
const LAYERS = [
  {
    dir: 'domain',
    forbids: ['runtime', 'store', 'servicenow', 'sources', 'sync', 'api', 'host', 'cli', 'doctor'],
  },
  { dir: 'runtime', forbids: ['store', 'servicenow', 'sources', 'sync', 'api', 'host', 'cli', 'doctor'] },
  { dir: 'store', forbids: ['servicenow', 'sources', 'sync', 'api', 'host', 'cli', 'doctor'] },
  { dir: 'servicenow', forbids: ['store', 'sources', 'sync', 'api', 'host', 'cli', 'doctor'] },
  { dir: 'sources', forbids: ['store', 'servicenow', 'sync', 'api', 'host', 'cli', 'doctor'] },
  { dir: 'sync', forbids: ['api', 'host', 'cli', 'doctor'] },
  { dir: 'api', forbids: ['host', 'cli'] },
  { dir: 'host', forbids: ['cli'] },
];
/** Modules that do I/O: never imported by `domain/`. */
const IO_MODULES = [
  'node:fs',
  'node:fs/promises',
  'node:http',
  'node:https',
  'node:net',
  'node:child_process',
  'undici',
  'kysely',
  'better-sqlite3',
  'pg',
  'pg-boss',
  'hono',
  '@hono/node-server',
  '@azure/*',
];
const layerRules = LAYERS.map(({ dir, forbids }) => ({
  files: [`src/${dir}/**/*.ts`, `src/${dir}/**/*.tsx`],
  ignores: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...noSandboxImports.patterns,
          {
            group: forbids.flatMap((layer) => [
              `../${layer}/**`,
              `../../${layer}/**`,
              `../../../${layer}/**`,
            ]),
            message: `src/${dir}/ sits below ${forbids.join(', ')}: arrows point one way (docs/architecture.md).`,
          },
          ...(dir === 'domain'
            ? [{ group: IO_MODULES, message: 'src/domain/ is pure: no I/O (docs/architecture.md).' }]
            : []),
        ],
      },
    ],
  },
}));

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
  ...layerRules,
);
