import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import {
  caseConfig,
  cleanRun,
  cliSync,
  canonicalState,
  duplicateKeys,
  expectOk,
  FLOW_CASES,
  prepareCase,
  reliabilityDevices,
  resetSandboxes,
  SCENARIO_TIMEOUT_MS,
  syncInProcess,
  writeConfigFile,
  writeCounts,
} from './support.js';

/**
 * Crash safety, flow by flow: `snowline sync` killed -9 at write numbers chosen from a clean run,
 * each kill landing after the sandbox committed the write and before Snowline saw the answer
 * (so before its ledger commit), then run again. Both sides must end exactly as the clean run
 * left them: no duplicate, no orphan assignment, nothing missing.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-crash-'));
const large = reliabilityDevices() > 500;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!existsSync('dist/cli.js')).each(FLOW_CASES)('$flow killed -9 mid-run', (flowCase) => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: reliabilityDevices(), seed: 31 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'ends with the clean run’s state on both sides after kills between remote commit and ledger',
    async () => {
      const clean = await cleanRun(sandboxes, flowCase, join(dir, `${flowCase.flow}-clean.sqlite`));
      expect(
        clean.writes.servicenow + clean.writes.defender,
        'the clean run wrote too little to choose kill points',
      ).toBeGreaterThan(2);
      expect(duplicateKeys(clean.state)).toEqual([]);
      expect(clean.state.orphanAssignments).toEqual([]);

      // One write in the middle (a partly recorded run) and the last, on each side the flow writes
      // to; the soak size adds the first (nothing recorded yet).
      const points = (writes: number) =>
        [...new Set([...(large ? [1] : []), Math.ceil(writes / 2), writes])].filter((n) => n > 0);
      const kills: { side: 'servicenow' | 'defender'; write: number }[] = points(clean.writes.servicenow).map(
        (write) => ({ side: 'servicenow', write }),
      );
      if (flowCase.writesDefender) {
        for (const write of points(clean.writes.defender)) kills.push({ side: 'defender', write });
      }

      for (const kill of kills) {
        const label = `${flowCase.flow} killed at ${kill.side} write ${kill.write}`;
        await resetSandboxes(sandboxes);
        const loaded = caseConfig(
          sandboxes,
          flowCase,
          join(dir, `${flowCase.flow}-${kill.side}-${kill.write}.sqlite`),
        );
        await prepareCase(sandboxes, flowCase, loaded);
        const configPath = writeConfigFile(loaded, dir, `${flowCase.flow}-${kill.side}-${kill.write}`);

        await sandboxes.control(kill.side, 'POST', '/_sandbox/faults', { holdWrite: kill.write });
        const crashed = await cliSync(sandboxes, configPath, flowCase.flow, { killWhenHeld: kill.side });
        expect(crashed, label).toMatchObject({ held: true, code: null });
        await sandboxes.control(kill.side, 'POST', '/_sandbox/faults', {});

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
        const before = await writeCounts(sandboxes);
        await expectOk(syncInProcess(loaded, [flowCase.flow]));
        expect(await writeCounts(sandboxes), `${label}: writes of the run after recovery`).toEqual(before);
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});
