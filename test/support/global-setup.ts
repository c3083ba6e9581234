import type { TestProject } from 'vitest/node';
import { postgresAvailable, startThrowawayPostgres, type ThrowawayPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the throwaway cluster, or null when PostgreSQL is not installed. */
    postgresUrl: string | null;
  }
}

let cluster: ThrowawayPostgres | undefined;

/**
 * Starts one throwaway PostgreSQL cluster for the whole test run. Without the binaries the
 * PostgreSQL half of the store tests is skipped with a visible notice, except on CI, where it
 * must run: a green CI must mean both stores were tested.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  if (!postgresAvailable()) {
    if (process.env.CI === 'true') {
      throw new Error(
        'CI=true but initdb/pg_ctl are not on PATH: install the PostgreSQL server (.ci/run does).',
      );
    }
    process.stderr.write(
      '\n[snowline tests] PostgreSQL binaries not found: PostgreSQL store tests are SKIPPED.\n\n',
    );
    project.provide('postgresUrl', null);
    return () => {};
  }
  cluster = await startThrowawayPostgres();
  project.provide('postgresUrl', cluster.url);
  return () => cluster?.stop();
}
