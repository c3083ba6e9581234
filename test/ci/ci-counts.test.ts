import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script, without types
import { countResults, countsLine } from '../../scripts/ci-counts.mjs';

/** `.ci/run`'s last line, from vitest JSON reports shaped as vitest 4 writes them. */

const test = (fullName: string, status: string) => ({ fullName, status });
const file = (name: string, status: string, tests: { fullName: string; status: string }[]) => ({
  name: `/repo/${name}`,
  status,
  assertionResults: tests,
});
const report = (files: ReturnType<typeof file>[]) => {
  const all = files.flatMap((f) => f.assertionResults);
  return {
    numPassedTests: all.filter((t) => t.status === 'passed').length,
    numFailedTests: all.filter((t) => t.status === 'failed').length,
    testResults: files,
  };
};
const count = (r: unknown, status = 0, missing: string[] = []) =>
  countResults(r, { status, missing, cwd: '/repo' }) as {
    passed: number;
    failed: number;
    skipped: number;
    notes: string[];
  };

describe('ci-counts', () => {
  it('counts passed, failed and skipped tests, and names the skipped ones', () => {
    const counts = count(
      report([
        file('a.test.ts', 'passed', [
          test('a one', 'passed'),
          test('a two', 'skipped'),
          test('a three', 'todo'),
        ]),
        file('b.test.ts', 'failed', [test('b one', 'failed'), test('b two', 'passed')]),
      ]),
      1,
    );
    expect(countsLine(counts)).toBe('2 passed, 1 failed, 2 skipped');
    expect(counts.notes).toEqual(['skipped: a.test.ts > a two', 'skipped: a.test.ts > a three']);
  });

  it('counts the tests a failed hook left unrun as failed, not skipped', () => {
    const counts = count(
      report([file('c.test.ts', 'failed', [test('c one', 'skipped'), test('c two', 'skipped')])]),
      1,
    );
    expect(countsLine(counts)).toBe('0 passed, 2 failed, 0 skipped');
    expect(counts.notes).toEqual(['did not run: c.test.ts > c one', 'did not run: c.test.ts > c two']);
  });

  it('counts a suite that failed to load once', () => {
    expect(countsLine(count(report([file('d.test.ts', 'failed', [])]), 1))).toBe(
      '0 passed, 1 failed, 0 skipped',
    );
  });

  it('counts a missing report, a failing exit with no failed test, and each missing dependency as failures', () => {
    expect(countsLine(count(null, 1))).toBe('0 passed, 1 failed, 0 skipped');
    const ok = report([file('e.test.ts', 'passed', [test('e one', 'passed')])]);
    expect(countsLine(count(ok, 2))).toBe('1 passed, 1 failed, 0 skipped');
    const missing = count(ok, 0, ['chromium', 'postgresql']);
    expect(countsLine(missing)).toBe('1 passed, 2 failed, 0 skipped');
    expect(missing.notes).toEqual([
      'missing after the install attempt: chromium',
      'missing after the install attempt: postgresql',
    ]);
    expect(countsLine(count(ok, 0))).toBe('1 passed, 0 failed, 0 skipped');
  });
});
