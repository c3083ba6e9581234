/**
 * A kill point inside the store's record commits, for the reliability suite only
 * (docs/reliability.md, "Crash safety"). With `SNOWLINE_TEST_KILL_AT_COMMIT=N` in its
 * environment, a Snowline process kills itself -9 inside its N-th record commit: after the
 * commit's inserts and updates were sent in the open transaction, before the database commits
 * them. Without the variable (always, outside that suite) this only counts commits.
 */
const killAt = parseKillAt(process.env.SNOWLINE_TEST_KILL_AT_COMMIT);
let commits = 0;

function parseKillAt(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`SNOWLINE_TEST_KILL_AT_COMMIT=${value} is not a commit number (1 or more)`);
  }
  return n;
}

/** Called inside every record commit's transaction, after its writes. */
export function insideRecordCommit(): void {
  commits += 1;
  if (commits === killAt) process.kill(process.pid, 'SIGKILL');
}

/** Record commits this process has entered so far (the suite counts a clean run's with it). */
export function recordCommitsSoFar(): number {
  return commits;
}
