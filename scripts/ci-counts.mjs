#!/usr/bin/env node
// The last line of `.ci/run`: `N passed, N failed, N skipped`, from vitest's JSON report.
//
//   node scripts/ci-counts.mjs <report.json | -> <exit status of npm test> [missing dependency…]
//
// Prints the skipped tests (and the tests of a failed suite that never ran) by name on stderr,
// then the counts on stdout. A report that is absent (npm test stopped before vitest: type check,
// build or lint failed), a non-zero exit status with no failed test, and each system dependency
// still missing after the install attempt all count as one failure.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Counts a vitest JSON report (null when there is none).
 *
 * @param {any} report
 * @param {{ status: number, missing?: string[], cwd?: string }} run
 * @returns {{ passed: number, failed: number, skipped: number, notes: string[] }}
 */
export function countResults(report, { status, missing = [], cwd = process.cwd() }) {
  const notes = [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (report === null) {
    notes.push('no test report: npm test stopped before the test runner (type check, build or lint)');
    failed += 1;
  } else {
    const ran = (t) => t.status === 'passed' || t.status === 'failed';
    passed = report.numPassedTests;
    failed = report.numFailedTests;
    for (const file of report.testResults) {
      const name = relative(cwd, file.name);
      const notRun = file.assertionResults.filter((t) => !ran(t));
      if (file.status === 'failed') {
        // A suite that failed to load, or whose beforeAll threw, never ran its tests: each one
        // that did not run is a failure (a suite with no test result counts once).
        failed += file.assertionResults.length === 0 ? 1 : notRun.length;
        if (file.assertionResults.length === 0) notes.push(`failed to run: ${name}`);
        for (const t of notRun) notes.push(`did not run: ${name} > ${t.fullName}`);
      } else {
        skipped += notRun.length;
        for (const t of notRun) notes.push(`skipped: ${name} > ${t.fullName}`);
      }
    }
  }
  for (const dependency of missing) {
    notes.push(`missing after the install attempt: ${dependency}`);
    failed += 1;
  }
  if (status !== 0 && failed === 0) {
    notes.push(`npm test exited ${status} with no failed test`);
    failed = 1;
  }
  return { passed, failed, skipped, notes };
}

/** The last line of `.ci/run`. */
export function countsLine({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed, ${skipped} skipped`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [reportPath = '-', status = '1', ...missing] = process.argv.slice(2);
  const report =
    reportPath !== '-' && existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, 'utf8')) : null;
  const counts = countResults(report, { status: Number(status), missing });
  for (const note of counts.notes) console.error(note);
  console.log(countsLine(counts));
}
