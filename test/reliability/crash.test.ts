import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../support/databases.js';
import { startSandboxes, writeCounts, type Sandboxes } from '../support/sandboxes.js';
import { reliabilitySeeds, sample, SOAK } from './seeds.js';
import {
  caseConfig,
  cleanRun,
  cliSync,
  canonicalState,
  duplicateKeys,
  expectOk,
  FLOW_CASES,
  OT_ALERTS_CLOSING_CASE,
  prepareCase,
  reliabilityDevices,
  resetSandboxes,
  SCENARIO_TIMEOUT_MS,
  SIDES,
  syncInProcess,
  writeConfigFile,
  type CommitBatch,
  type Side,
} from './support.js';

/**
 * Crash safety, flow by flow: `snowline sync` killed -9 at points drawn from a seed, then run
 * again; both sides must end exactly as a clean run left them (no duplicate, no orphan
 * assignment, nothing missing, `times_found` included) and the run after that writes nothing.
 *
 * Kill points, per flow and seed:
 * - writes: the last write on each side the flow writes to, and others drawn from the clean run's
 *   write numbers, 6 in all (30 at the soak size); each kill lands after the sandbox committed the
 *   write and before Snowline saw the answer, so before its ledger commit;
 * - reads: a read drawn from the clean run's (3 per side at soak), held unanswered when the kill
 *   comes;
 * - store commits: a record commit drawn from the clean run's (3 per store at soak): the process
 *   kills itself inside the transaction, after its writes and before COMMIT
 *   (`SNOWLINE_TEST_KILL_AT_COMMIT`, src/store/kill-point.ts).
 * Which sides' reads and which stores' commits: see `readSides` and `commitStores` below.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const postgresUrl = inject('postgresUrl');

/**
 * The seeds CI runs. Append a seed that ever failed (at soak, or here) as a regression seed once
 * its bug is fixed, with a comment naming the bug; never remove one.
 */
const CI_SEEDS = [
  20250125,
  // Regression seeds: none yet.
];
const SEEDS = reliabilitySeeds('crash.test.ts', CI_SEEDS, 1);

const WRITE_KILLS = SOAK ? 30 : 6;
const READ_KILLS = SOAK ? 3 : 1;
const COMMIT_KILLS = SOAK ? 3 : 1;
/**
 * Time for one kill and its recovery (a prerequisite run, the killed run, two runs after): far
 * more than it takes, on a loaded machine too. A test's timeout is this times its kills; when it
 * runs out, the kills still under way stop at their next step, so none overlaps the next test's.
 */
const KILL_TIMEOUT_MS = SOAK ? 900_000 : 60_000;
/**
 * Commits by record count only (the interval at its maximum), so a clean run in this process and
 * a killed `snowline sync` commit at the same points; small batches make several commits per run.
 */
const COMMIT_BATCH: CommitBatch = { records: 20, intervalMs: 60_000 };

type Kill =
  | { kind: 'write' | 'read'; side: Side; n: number }
  | { kind: 'commit'; store: 'sqlite' | 'postgres'; n: number };

function describeKill(kill: Kill): string {
  return kill.kind === 'commit'
    ? `inside ${kill.store} record commit ${kill.n}`
    : `at ${kill.side} ${kill.kind} ${kill.n}`;
}

/** Every flow, and ot-alerts' closing half too (its tickets opened first, then people at work). */
const CASES = [...FLOW_CASES, OT_ALERTS_CLOSING_CASE].map((c) => ({ ...c, name: c.name ?? c.flow }));

describe.skipIf(!existsSync('dist/cli.js')).each(CASES)('$name killed -9 mid-run', (flowCase) => {
  // On CI each flow kills during reads of one side and commits of one store, the four flows
  // covering every pair (ServiceNow or Defender reads × SQLite or PostgreSQL); at soak every
  // flow covers both sides and both stores. PostgreSQL is there on CI (the global setup insists);
  // a laptop without it kills SQLite commits only.
  const index = CASES.indexOf(flowCase);
  const readSides: Side[] = SOAK ? [...SIDES] : [SIDES[index % 2]!];
  const stores = postgresUrl === null ? (['sqlite'] as const) : (['sqlite', 'postgres'] as const);
  const commitStores = SOAK ? [...stores] : [stores[Math.floor(index / 2) % stores.length]!];
  let sandboxes: Sandboxes;
  let clean: Awaited<ReturnType<typeof cleanRun>>;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: reliabilityDevices(), seed: 31 });
    clean = await cleanRun(sandboxes, flowCase, join(dir, `${flowCase.name}-clean.sqlite`), COMMIT_BATCH);
  }, SCENARIO_TIMEOUT_MS);
  afterAll(async () => sandboxes?.close());

  it('has a clean run to compare with: enough writes, reads and commits to choose kill points', () => {
    expect(clean.writes.servicenow + clean.writes.defender).toBeGreaterThan(2);
    if (flowCase.writesDefender) expect(clean.writes.defender).toBeGreaterThan(0);
    for (const side of SIDES) expect(clean.reads[side], `${side} reads`).toBeGreaterThan(0);
    // At least one commit to kill inside; ot-alerts' clean run on the small estate records fewer
    // than a commit batch (20 records), so its one commit is the one killed (nothing recorded yet).
    expect(clean.commits).toBeGreaterThan(0);
    expect(duplicateKeys(clean.state)).toEqual([]);
    expect(clean.state.orphanAssignments).toEqual([]);
  });

  describe.each(SEEDS)('seed %i', (seed) => {
    it(
      'converges after kills between a write the remote side committed and the ledger',
      async ({ signal }) => {
        const sides: Side[] = flowCase.writesDefender ? [...SIDES] : ['servicenow'];
        const perSide = Math.ceil(WRITE_KILLS / sides.length);
        for (const side of sides) {
          const last = clean.writes[side];
          const drawn = sample(seed, `write:${side}`, last - 1, perSide - 1);
          for (const n of [...drawn, last]) await killAndRecover(seed, { kind: 'write', side, n }, signal);
        }
      },
      (WRITE_KILLS + 1) * KILL_TIMEOUT_MS,
    );

    it(
      `converges after kills while waiting for a read (${readSides.join(' and ')})`,
      async ({ signal }) => {
        for (const side of readSides) {
          for (const n of sample(seed, `read:${side}`, clean.reads[side], READ_KILLS)) {
            await killAndRecover(seed, { kind: 'read', side, n }, signal);
          }
        }
      },
      2 * READ_KILLS * KILL_TIMEOUT_MS,
    );

    it(
      `converges after kills inside a store commit (${commitStores.join(' and ')})`,
      async ({ signal }) => {
        for (const n of sample(seed, 'commit', clean.commits, COMMIT_KILLS)) {
          for (const store of commitStores) await killAndRecover(seed, { kind: 'commit', store, n }, signal);
        }
      },
      2 * COMMIT_KILLS * KILL_TIMEOUT_MS,
    );
  });

  /**
   * One kill: a run of the flow as its own process on reset sandboxes, killed -9 at `kill`, then
   * a run in this process that must reach the clean run's state, then one that writes nothing.
   */
  async function killAndRecover(seed: number, kill: Kill, signal: AbortSignal): Promise<void> {
    // A test that timed out stops here, not in the middle of the next test's kills.
    signal.throwIfAborted();
    const name = `${flowCase.name}-${seed}-${kill.kind}-${kill.kind === 'commit' ? kill.store : kill.side}-${kill.n}`;
    const label = `${flowCase.name} killed ${describeKill(kill)} (seed ${seed})`;
    await resetSandboxes(sandboxes);
    const storeUrl =
      kill.kind === 'commit' && kill.store === 'postgres'
        ? await createTestDatabase(postgresUrl!, 'crash')
        : join(dir, `${name}.sqlite`);
    const loaded = caseConfig(sandboxes, flowCase, storeUrl, COMMIT_BATCH);
    await prepareCase(sandboxes, flowCase, loaded);
    const configPath = writeConfigFile(loaded, dir, name);

    if (kill.kind === 'commit') {
      const crashed = await cliSync(sandboxes, configPath, flowCase.flow, {
        env: { SNOWLINE_TEST_KILL_AT_COMMIT: String(kill.n) },
      });
      // Killed by its own kill point: the test never signals this process.
      expect(crashed, label).toMatchObject({ code: null, signal: 'SIGKILL' });
    } else {
      const hold = kill.kind === 'write' ? { holdWrite: kill.n } : { holdRead: kill.n };
      await sandboxes.control(kill.side, 'POST', '/_sandbox/faults', hold);
      const crashed = await cliSync(sandboxes, configPath, flowCase.flow, { killWhenHeld: kill.side });
      expect(crashed, label).toMatchObject({ held: true, code: null });
      await sandboxes.control(kill.side, 'POST', '/_sandbox/faults', {});
    }

    signal.throwIfAborted();
    const rerun = await expectOk(syncInProcess(loaded, [flowCase.flow]));
    // What the killed run committed was found and taken over, not refused as a duplicate.
    expect(rerun[flowCase.flow]!.errors, label).toBe(0);
    const after = await canonicalState(sandboxes, flowCase);
    expect(duplicateKeys(after), label).toEqual([]);
    expect(after.orphanAssignments, label).toEqual([]);
    // Everything equal, times_found included: a detection the killed run committed is taken
    // over by the re-run, not counted found twice.
    expect(after, label).toEqual(clean.state);

    // And once recovered, the next run has nothing left to write.
    signal.throwIfAborted();
    const before = await writeCounts(sandboxes);
    await expectOk(syncInProcess(loaded, [flowCase.flow]));
    expect(await writeCounts(sandboxes), `${label}: writes of the run after recovery`).toEqual(before);
  }
});
