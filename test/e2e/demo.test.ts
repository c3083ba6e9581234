import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'snowline-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a command to its end and fails the test with its output when it does not exit 0. */
function run(command: string, args: string[], cwd: string, timeout = 180_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout });
  expect(result.status, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

/** The summary `npm start -- --once --json` prints: every flow ran and ended ok. */
function expectDemoSummary(stdout: string): void {
  const summary = JSON.parse(stdout);
  expect(summary).toEqual({ runId: expect.any(String), jobs: expect.any(Object) });
  const jobs = summary.jobs as Record<string, { outcome: string }>;
  expect(Object.keys(jobs).sort()).toEqual(
    ['cloud-tickets', 'ot-alerts', 'ot-inventory', 'ot-vulnerabilities', 'ticket-sync'].sort(),
  );
  for (const [flow, job] of Object.entries(jobs)) expect([flow, job.outcome]).toEqual([flow, 'ok']);
}

describe.skipIf(!existsSync('dist/cli.js'))('npm start (snowline demo)', () => {
  it('`npm start -- --once --json` runs the demo once and prints a sync summary', () => {
    const result = run('npm', ['start', '--silent', '--', '--once', '--json', '--dir', dir], resolve('.'));
    expectDemoSummary(result.stdout);
    expect(existsSync(join(dir, 'demo.sqlite'))).toBe(true);
    expect(existsSync(join(dir, 'demo.yaml'))).toBe(true);
  });

  it('shows the same numbers when started again in the same folder, as users do', () => {
    const again = mkdtempSync(join(tmpdir(), 'snowline-demo-again-'));
    try {
      const counts = () => {
        const result = run(
          'npm',
          ['start', '--silent', '--', '--once', '--json', '--dir', again],
          resolve('.'),
        );
        expectDemoSummary(result.stdout);
        const jobs = JSON.parse(result.stdout).jobs as Record<string, Record<string, unknown>>;
        // What each start wrote into its (fresh) sandboxes: CIs, NVD entries, detections, items,
        // tickets and assignments.
        return Object.fromEntries(
          Object.entries(jobs).map(([flow, job]) => [flow, { created: job.created, deleted: job.deleted }]),
        );
      };
      const first = counts();
      expect((first['ot-inventory'] as { created: number }).created).toBeGreaterThan(0);
      expect(counts()).toEqual(first);
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
    // Two whole demo runs (five flows each): on a loaded 2-core machine one takes over 30 s.
  }, 240_000);
});

/**
 * The README's first command on a fresh clone of this repository's HEAD: `npm ci` is stood in
 * for by hard links to the installed `node_modules` (the same locked packages, without a second
 * download) followed by the build that `npm ci` runs as its `prepare` script; then
 * `npm start -- --once --json` exactly as the README writes it, with its default store folder.
 * `.ci/run` itself is the fresh-clone proof of `npm ci && npm test`.
 */
describe.skipIf(!existsSync('.git') || !existsSync('node_modules/.package-lock.json'))(
  'a fresh clone',
  () => {
    it('builds and runs `npm start -- --once --json` with nothing but what the repository holds', () => {
      const clone = join(dir, 'clone');
      run('git', ['clone', '--quiet', resolve('.'), clone], dir);
      expect(existsSync(join(clone, 'node_modules')), 'a clone carries no node_modules').toBe(false);
      run('cp', ['-al', resolve('node_modules'), join(clone, 'node_modules')], dir);
      run('npm', ['run', 'build', '--silent'], clone);
      const result = run('npm', ['start', '--silent', '--', '--once', '--json'], clone);
      expectDemoSummary(result.stdout);
      expect(existsSync(join(clone, '.snowline'))).toBe(true);
    }, 420_000);
  },
);
