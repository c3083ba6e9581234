import { defineConfig } from 'vitest/config';

/**
 * One vitest run covers unit, integration and end-to-end tests. The global setup starts a
 * throwaway PostgreSQL cluster (when its binaries exist) that every store test shares.
 * On CI a JSON report is written too, from which `.ci/run` prints its `N passed, N failed, N skipped`
 * line (scripts/ci-counts.mjs).
 */
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'sandbox/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.vitest-results.json' }]] : ['default'],
  },
});
