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
 *   npx tsx bench/ot-inventory.ts [--size demo|large|N] [--batch 100] [--sample 10000] [--json]
 *
 * Not a test: nothing here asserts a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs,
  journal,
  journaled,
  naiveCopy,
  replayFloor,
  requireBuild,
  round,
  serviceNowCounters,
  startSandboxProcess,
  timedSync,
  writeBenchConfig,
  type FlowBenchResult,
} from './harness.js';

const FLOW = 'ot-inventory';
const args = benchArgs({ batch: '100', sample: '10000' });
const batchSize = Number(args.batch);
const sampleDevices = Number(args.sample);
const concurrency = 2; // The flow's default `concurrency`: IRE requests in flight.
requireBuild();

const flows = { otInventory: { source: 'console', sensorValidation: 'auto', batchSize, concurrency } };

/** Snowline's initial run and no-op re-run on one sandbox; with `record`, the initial run's requests too. */
async function measure(size: string, record: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-'));
  const sandbox = await startSandboxProcess(size);
  try {
    const config = writeBenchConfig(sandbox.ready, dir, flows);
    if (record) await journal(sandbox, true);
    const before = await serviceNowCounters(sandbox);
    const initial = await timedSync(config, FLOW);
    const afterInitial = await serviceNowCounters(sandbox);
    const requests = record ? await journaled(sandbox) : undefined;
    if (record) await journal(sandbox, false);
    const noop = await timedSync(config, FLOW);
    const afterNoop = await serviceNowCounters(sandbox);
    const naive = record ? await naiveClient(size, sandbox) : undefined;
    return {
      devices: (sandbox.ready.estate as { devices?: number } | undefined)?.devices ?? Number(size),
      initial,
      noop,
      servicenow: {
        requests: afterInitial.requests - before.requests,
        ire: afterInitial.ire - before.ire,
        noopWrites: afterNoop.writes - afterInitial.writes,
      },
      requests,
      naive,
    };
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ServiceNow tables ot-inventory writes, in an order where every reference points back. */
const CMDB_TABLES = [
  'cmdb_ci',
  'cmdb_ot_entity',
  'cmdb_key_value_v2',
  'sys_object_source',
  'cmdb_rel_ci',
  'sn_ot_device_network_connection',
];

/** The naive client's copy of what Snowline wrote to `done`, on a fresh sandbox of the same size. */
async function naiveClient(size: string, done: Awaited<ReturnType<typeof startSandboxProcess>>) {
  const fresh = await startSandboxProcess(size);
  try {
    // `sys_object_source` is written by IRE only: the Table API refuses inserts (ACL), as on a
    // real instance, so a naive client has no source records and is compared without them.
    return await naiveCopy(
      done,
      fresh,
      CMDB_TABLES.filter((t) => t !== 'sys_object_source'),
      concurrency,
    );
  } finally {
    await fresh.stop();
  }
}

/** The replay floor of a recorded run, on a fresh sandbox of the same size. */
async function replay(size: string, recorded: NonNullable<Awaited<ReturnType<typeof measure>>['requests']>) {
  const fresh = await startSandboxProcess(size);
  try {
    return await replayFloor(fresh, recorded, concurrency);
  } finally {
    await fresh.stop();
  }
}

process.stderr.write(`${FLOW} benchmark: ${args.size}…\n`);
const devicesOf = (size: string) => (size === 'demo' ? 0 : size === 'large' ? Infinity : Number(size));
// `--sample 0` skips the replay (the growth series needs only time and memory).
const withReplay = sampleDevices > 0;
const sampled = withReplay && devicesOf(args.size) > sampleDevices;
const main = await measure(args.size, withReplay && !sampled);
const ratioRun = sampled ? await measure(String(sampleDevices), true) : main;
const floorRun = withReplay
  ? await replay(sampled ? String(sampleDevices) : args.size, ratioRun.requests!)
  : undefined;

const s = main.initial.summary;
const records = s.created + s.updated;
const floor = Math.ceil(s.ireItems / batchSize);
const result: FlowBenchResult = {
  flow: FLOW,
  size: args.size,
  devices: main.devices,
  batchSize,
  records,
  ireItems: s.ireItems,
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
  errors: s.errors,
  replay: floorRun
    ? {
        sample: sampled ? `${sampleDevices} devices` : null,
        snowlineMs: Math.round(ratioRun.initial.wallMs),
        replayMs: Math.round(floorRun.wallMs),
        requests: floorRun.requests,
        failed: floorRun.failed,
        ratio: round(ratioRun.initial.wallMs / floorRun.wallMs, 2),
      }
    : null,
  naive: ratioRun.naive
    ? {
        sample: sampled ? `${sampleDevices} devices` : null,
        snowlineMs: Math.round(ratioRun.initial.wallMs),
        naiveMs: Math.round(ratioRun.naive.wallMs),
        requests: ratioRun.naive.requests,
        failed: ratioRun.naive.failed,
        sameState: ratioRun.naive.sameState,
        ratio: round(ratioRun.naive.wallMs / ratioRun.initial.wallMs, 2),
      }
    : null,
};
process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
