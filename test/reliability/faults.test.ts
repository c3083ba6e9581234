import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowSummary } from '../../src/domain/flows.js';
import { openStore } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import {
  canonicalState,
  caseConfig,
  cleanRun,
  duplicateKeys,
  FLOW_CASES,
  prepareCase,
  reliabilityDevices,
  resetSandboxes,
  SCENARIO_TIMEOUT_MS,
  SIDES,
  syncInProcess,
} from './support.js';
import { reliabilitySeeds } from './seeds.js';

/**
 * Faults a real instance and a real Azure produce by bad luck, produced on purpose: a storm of
 * 500s, 429s with Retry-After, connection resets and latency spikes on both sides, and a rate
 * budget far smaller than the work. Each flow must reach exactly the clean run's state.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The seeds of the storm CI runs (each sandbox draws its faults from it). Append a seed that ever
 * failed (at soak, or here) as a regression seed once its bug is fixed, with a comment naming the
 * bug; never remove one.
 */
// 4099 replaced 65537, which drew no fault at all from ot-alerts' few requests on the small estate
// (the test then proves nothing and says so).
const CI_SEEDS = [
  7, 1009, 4099,
  // Regression seeds: none yet.
];
const SEEDS = reliabilitySeeds('faults.test.ts', CI_SEEDS, 10);

/** The storm of the issue: 10 % 500s, 5 % 429 with Retry-After, 2 % resets, 2 % latency spikes. */
const STORM = {
  error500Rate: 0.1,
  error429Rate: 0.05,
  retryAfterSeconds: 1,
  resetRate: 0.02,
  latencySpikeRate: 0.02,
  latencySpikeMs: 400,
};

interface Injected {
  reset: number;
  error500: number;
  error429: number;
  latencySpike: number;
}

describe.each(FLOW_CASES)('$flow under faults', (flowCase) => {
  let sandboxes: Sandboxes;
  let clean: Awaited<ReturnType<typeof cleanRun>>;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: reliabilityDevices(), seed: 41 });
    clean = await cleanRun(sandboxes, flowCase, join(dir, `${flowCase.flow}-clean.sqlite`));
  }, SCENARIO_TIMEOUT_MS);
  afterAll(async () => sandboxes?.close());

  it.each(SEEDS)(
    'converges to the clean run’s state through a storm of 500s, 429s, resets and latency spikes, and counts its retries (seed %i)',
    async (seed) => {
      await resetSandboxes(sandboxes);
      const loaded = caseConfig(sandboxes, flowCase, join(dir, `${flowCase.flow}-storm-${seed}.sqlite`));
      await prepareCase(sandboxes, flowCase, loaded);
      for (const side of SIDES) await sandboxes.control(side, 'POST', '/_sandbox/faults', { ...STORM, seed });

      // A run that exhausts its retries on one request fails cleanly; the next picks up from
      // the ledger. Bounded per flow (FlowCase.stormRuns): every other failure is retried in-run.
      const runs: FlowSummary[] = [];
      for (let attempt = 0; attempt < flowCase.stormRuns; attempt++) {
        const summary = (await syncInProcess(loaded, [flowCase.flow]))[flowCase.flow]!;
        runs.push(summary);
        if (summary.outcome === 'ok' && summary.errors === 0) break;
      }
      const injected = await Promise.all(
        SIDES.map(
          async (side) => (await sandboxes.control(side, 'GET', '/_sandbox/faults')).injected as Injected,
        ),
      );
      for (const side of SIDES) await sandboxes.control(side, 'POST', '/_sandbox/faults', {});

      expect(runs.at(-1), JSON.stringify(runs)).toMatchObject({ outcome: 'ok', errors: 0 });
      const failures = injected.reduce((n, i) => n + i.reset + i.error500 + i.error429, 0);
      expect(failures, 'the storm injected no failure: it proves nothing').toBeGreaterThan(0);
      // The summaries, failed runs' included, count the retries: no retry without a failure to
      // cause it, and every injected failure either retried or reported as an error (a request
      // that exhausted its attempts, a write left to the next run). A run that ends ok with no
      // error therefore counts exactly one retry per failure.
      const retries = runs.reduce((n, r) => n + r.retries, 0);
      const errors = runs.reduce((n, r) => n + r.errors, 0);
      expect(retries, JSON.stringify({ injected, runs })).toBeGreaterThan(0);
      expect(retries, JSON.stringify({ injected, runs })).toBeLessThanOrEqual(failures);
      expect(retries + errors, JSON.stringify({ injected, runs })).toBeGreaterThanOrEqual(failures);

      const after = await canonicalState(sandboxes, flowCase);
      expect(duplicateKeys(after)).toEqual([]);
      expect(after.orphanAssignments).toEqual([]);
      expect(after).toEqual(clean.state);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'defers under a rate budget smaller than the work, resumes when the window moves on, and completes',
    async () => {
      await resetSandboxes(sandboxes);
      const storeUrl = join(dir, `${flowCase.flow}-budget.sqlite`);
      const loaded = caseConfig(sandboxes, flowCase, storeUrl);
      await prepareCase(sandboxes, flowCase, loaded);

      // A window shortened from the platform's hour to 10 minutes (still longer than the 60 s
      // Snowline waits in-process, so it must defer), started at a window boundary so every
      // Retry-After is close to the whole window, and a budget of a third of the clean run's requests.
      const windowSeconds = 600;
      const now = Date.parse((await sandboxes.control('servicenow', 'GET', '/_sandbox/clock')).now);
      const boundary = Math.ceil(now / 1000 / windowSeconds) * windowSeconds;
      await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', {
        now: new Date(boundary * 1000 + 1000).toISOString(),
      });
      // At least the reads a run makes before its first write, or no window would let one through.
      const limit = Math.max(3, Math.ceil(clean.servicenowRequests / 3), clean.noopServicenowRequests + 1);
      await sandboxes.control('servicenow', 'POST', '/_sandbox/rate-limits', {
        rules: [{ name: 'reliability budget', limit, windowSeconds }],
      });

      const outcomes: string[] = [];
      let written = 0;
      // Bounded: each window lets a third of the work through; a dozen windows is far more than enough.
      for (let window = 0; window < 12; window++) {
        const summary = (await syncInProcess(loaded, [flowCase.flow]))[flowCase.flow]!;
        outcomes.push(summary.outcome);
        written += summary.created + summary.updated + summary.deleted;
        expect(summary.outcome, JSON.stringify(summary)).not.toBe('failed');
        if (summary.outcome === 'ok') break;
        expect(summary.retryAt).toEqual(expect.any(String));
        await sandboxes.control('servicenow', 'POST', '/_sandbox/clock', { advanceSeconds: windowSeconds });
      }
      await sandboxes.control('servicenow', 'POST', '/_sandbox/rate-limits', { rules: [] });

      expect(outcomes[0]).toBe('deferred');
      expect(outcomes.at(-1)).toBe('ok');
      const after = await canonicalState(sandboxes, flowCase);
      expect(duplicateKeys(after)).toEqual([]);
      expect(after).toEqual(clean.state);

      // Nothing created twice across the deferred runs, and no deferral left behind.
      const store = await openStore(storeUrl);
      try {
        expect(await store.db.selectFrom('deferred_work').selectAll().execute()).toEqual([]);
        const creates = await store.db
          .selectFrom('ledger_event')
          .select(['entity', 'entity_key'])
          .where('action', '=', 'create')
          .where('flow', '=', flowCase.flow)
          .execute();
        const keys = creates.map((c) => `${c.entity}/${c.entity_key}`);
        expect(new Set(keys).size).toBe(keys.length);
      } finally {
        await store.close();
      }
      expect(written).toBeGreaterThan(0);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
