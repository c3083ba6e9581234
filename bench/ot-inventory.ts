/**
 * Benchmark of flow ot-inventory, the way a user would run it: the sandboxes in their own process
 * (`dist/sandbox/main.js`), Snowline as `snowline sync` in another, timed from outside, its peak
 * RSS read from /proc. Prints one JSON object (see bench/harness.ts `FlowBenchResult`), plus:
 *
 * - `replay`: the requests Snowline sent (journaled by the sandboxes) replayed by a minimal
 *   client with the same agent and concurrency against a fresh sandbox; `ratio` is Snowline's
 *   wall time over the replay's (the engine's own cost; target ≤ 1.3). On more than
 *   `--sample` devices it runs on a sample of that many devices, with Snowline timed on the
 *   same sample, and says so; `--sample 0` leaves it out.
 * - `naive`: the same final state written by a naive client, one Table API request per record,
 *   same agent and concurrency, on a fresh sandbox; `ratio` is its time over Snowline's (target
 *   ≥ 10), `sameState` whether the canonical dumps are equal. Same sample as the replay.
 *
 *   npx tsx bench/ot-inventory.ts [--size demo|large|N] [--batch 100] [--sample 10000] [--source console|sensor|resourceGraph] [--json]
 *
 * `--source` is the Defender source ot-inventory reads (default console, as earlier figures).
 *
 * Not a test: nothing here asserts a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs,
  benchNetwork,
  journal,
  journaled,
  measureWithRatios,
  naiveCopy,
  OT_INVENTORY_TABLES,
  replayFloor,
  requireBuild,
  round,
  serviceNowCounters,
  startSandboxProcess,
  timedSync,
  withSandbox,
  writeBenchConfig,
  type FlowBenchResult,
} from './harness.js';

const FLOW = 'ot-inventory';
const args = benchArgs({ batch: '100', sample: '10000', source: 'console' });
if (!['console', 'sensor', 'resourceGraph'].includes(args.source))
  throw new Error(`--source ${args.source}: use console, sensor or resourceGraph`);
const batchSize = Number(args.batch);
const sampleDevices = Number(args.sample);
const concurrency = 2; // The flow's default `concurrency`: IRE requests in flight.
/** IRE requests `concurrency` at a time, Defender's reads alongside on one lane. */
const lanes = { servicenow: concurrency, defender: 1 };
requireBuild();

const flows = { otInventory: { source: args.source, sensorValidation: 'auto', batchSize, concurrency } };

/**
 * Snowline's initial run and no-op re-run on one sandbox; `withRatios`, the initial run's
 * requests journaled and its replay floor and naive client, each on a fresh sandbox.
 */
async function measure(size: string, withRatios: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-'));
  const sandbox = await startSandboxProcess(size);
  try {
    const config = writeBenchConfig(sandbox.ready, dir, flows);
    if (withRatios) await journal(sandbox, true);
    const before = await serviceNowCounters(sandbox);
    const initial = await timedSync(config, FLOW);
    const afterInitial = await serviceNowCounters(sandbox);
    const requests = withRatios ? await journaled(sandbox) : undefined;
    if (withRatios) await journal(sandbox, false);
    process.stderr.write(`${size}: initial run ${Math.round(initial.wallMs)} ms; no-op and freshness next\n`);
    const noop = await timedSync(config, FLOW);
    const afterNoop = await serviceNowCounters(sandbox);
    // The daily freshness pass: a day later Defender has seen every device again; each fed device's
    // most recent discovery moves, one IRE item per device (flows.otInventory.freshnessHours 24).
    await sandbox.control('defender', 'POST', '/_sandbox/clock', { advanceSeconds: 25 * 3600 });
    await sandbox.control('defender', 'POST', '/_sandbox/devices/seen');
    const freshness = await timedSync(config, FLOW);
    const afterFreshness = await serviceNowCounters(sandbox);
    if (requests) process.stderr.write(`${size}: naive copy and replay next\n`);
    const ratios = requests && {
      snowlineMs: initial.wallMs,
      // `sys_object_source` is written by IRE only: the Table API refuses inserts (ACL), as on a
      // real instance, so a naive client has no source records and is compared without them.
      naive: await withSandbox(size, (fresh) =>
        naiveCopy(sandbox, fresh, {
          tables: OT_INVENTORY_TABLES.filter((t) => t !== 'sys_object_source'),
          lanes,
        }),
      ),
      replay: await withSandbox(size, (fresh) =>
        replayFloor(fresh, requests, lanes, { recorded: sandbox, tables: OT_INVENTORY_TABLES }),
      ),
    };
    return {
      devices: (sandbox.ready.estate as { devices?: number } | undefined)?.devices ?? Number(size),
      initial,
      noop,
      servicenow: {
        requests: afterInitial.requests - before.requests,
        ire: afterInitial.ire - before.ire,
        ireItems: afterInitial.ireItems - before.ireItems,
        noopWrites: afterNoop.writes - afterInitial.writes,
      },
      freshness: {
        wallMs: freshness.wallMs,
        refreshed: (freshness.summary as { refreshed?: number }).refreshed ?? 0,
        ire: afterFreshness.ire - afterNoop.ire,
        ireItems: afterFreshness.ireItems - afterNoop.ireItems,
        requests: afterFreshness.requests - afterNoop.requests,
      },
      ratios,
    };
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.stderr.write(`${FLOW} benchmark: ${args.size}…\n`);
// `--sample 0` skips the replay (the growth series needs only time and memory).
const { main, replay, naive } = await measureWithRatios(args.size, sampleDevices, measure);

const s = main.initial.summary;
const records = s.created + s.updated;
// The floor counts the IRE items the sandbox received, not what Snowline reports it sent.
const floor = Math.ceil(main.servicenow.ireItems / batchSize);
const freshnessFloor = Math.max(1, Math.ceil(main.freshness.ireItems / batchSize));
const result: FlowBenchResult = {
  flow: FLOW,
  size: args.size,
  source: args.source,
  latencyMs: benchNetwork().latencyMs,
  jitterMs: benchNetwork().jitterMs,
  devices: main.devices,
  batchSize,
  records,
  ireItems: main.servicenow.ireItems,
  ireItemsReported: s.ireItems,
  wallMs: Math.round(main.initial.wallMs),
  recordsPerSec: Math.round(records / (main.initial.wallMs / 1000)),
  requests: {
    servicenow: main.servicenow.requests,
    defender: s.requests.defender,
    floor,
    ratio: round(main.servicenow.ire / floor, 3),
  },
  peakRssMb: Math.round(main.initial.peakRssMb),
  noop: {
    wallMs: Math.round(main.noop.wallMs),
    writes: main.servicenow.noopWrites,
    peakRssMb: Math.round(main.noop.peakRssMb),
  },
  // Target: ≤ 1.05 × ceil(IRE items received / batch) IRE requests.
  freshness: {
    wallMs: Math.round(main.freshness.wallMs),
    refreshed: main.freshness.refreshed,
    ireItems: main.freshness.ireItems,
    ireRequests: main.freshness.ire,
    floor: freshnessFloor,
    ratio: round(main.freshness.ire / freshnessFloor, 3),
  },
  // IRE requests per device of the initial load (items per device: NIC lookups ride on the device).
  ireRequestsPerDevice: round(main.servicenow.ire / Math.max(1, main.devices), 4),
  errors: s.errors,
  replay,
  naive,
};
process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
