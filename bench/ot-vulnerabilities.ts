/**
 * Benchmark of flow ot-vulnerabilities, the way a user would run it: the sandboxes in their own
 * process (`dist/sandbox/main.js`), Snowline as `snowline sync` in another, timed from outside,
 * with its peak RSS read from /proc. ot-inventory runs first (its own `snowline sync`, timed
 * apart) so that the device CIs exist; then ot-vulnerabilities is timed on its first run and on
 * an unchanged re-run. Like bench/ot-inventory.ts, each result also carries:
 *
 * - `replay`: the requests of ot-vulnerabilities' first run (journaled by the sandboxes, not
 *   ot-inventory's) replayed in the order received, in the flow's phases (a chunk's reads, then
 *   its Batch calls of one table, `--concurrency` in flight, as the flow sends them: harness.ts
 *   `sendInPhases`), against a fresh sandbox seeded untimed with what ot-inventory left (sys_ids
 *   kept); `ratio` is Snowline's wall time over the replay's (target ≤ 1.3).
 * - `naive`: the NVD entries, vulnerable items and detections Snowline left, written one Table
 *   API request per record, `--concurrency` at a time, to a fresh sandbox seeded the same way;
 *   `ratio` is its time over Snowline's (target ≥ 20), `sameState` whether the canonical dumps
 *   are equal.
 *
 * Above `--sample` devices (10,000) both run on a sample of that many devices with Snowline timed
 * on the same sample, and say so; `--sample 0` leaves them out.
 *
 *   npx tsx bench/ot-vulnerabilities.ts [--size demo|large|N[,…]] [--json] [--batch 100] [--source console|sensor|resourceGraph] [--sample 10000] [--concurrency 4]
 *
 * `N` is a number of devices. Prints one result per size (one JSON object per line with
 * `--json`) and writes bench/results/<date>-ot-vulnerabilities.json. The floor is the fewest
 * Batch calls that carry the writes: ceil(NVD entries / batch) + ceil(detections / batch).
 * Not a test: nothing here asserts a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs,
  benchNetwork,
  measuredSync,
  report,
  round,
  startSandbox,
  timedSync,
  writeBenchConfig,
  writeResults,
  type FlowBenchResult,
} from './flow-bench.js';
import {
  journal,
  journaled,
  measureWithRatios,
  naiveCopy,
  OT_INVENTORY_TABLES,
  replayFloor,
  seedFrom,
  withSandbox,
  type RatioRuns,
} from './harness.js';

const { sizes, json, sample, values } = benchArgs({
  batch: { type: 'string', default: '100' },
  source: { type: 'string', default: 'console' },
  concurrency: { type: 'string', default: '4' },
});
const batchSize = Number(values.batch);
/** Batch calls and reads in flight (flows.otVulnerabilities.concurrency); the replay and naive client keep as many. */
const concurrency = Number(values.concurrency);
const source = values.source;
if (source !== 'console' && source !== 'sensor' && source !== 'resourceGraph')
  throw new Error('--source is console, sensor or resourceGraph');
/** Resource Graph CVEs go with a sensor inventory (the sandbox-written configuration's pairing). */
const inventorySource = source === 'resourceGraph' ? 'sensor' : source;

/** The part of the flow's `--json` summary the benchmark reads. */
interface Summary {
  outcome: string;
  created: number;
  opened: number;
  unchanged: number;
  pending: number;
  truncated: number;
  problems: number;
  errors: number;
}

/** ServiceNow tables ot-vulnerabilities writes, in an order where every reference points back. */
const VULNERABILITY_TABLES = ['sn_vul_nvd_entry', 'sn_vul_vulnerable_item', 'sn_vul_detection'];

/**
 * The flow's runs on one sandbox; `withRatios`, ot-vulnerabilities' first run journaled and its
 * replay floor and naive client, each on a fresh sandbox that holds what ot-inventory left.
 */
async function measure(
  size: string,
  withRatios: boolean,
): Promise<{ result: FlowBenchResult; ratios?: RatioRuns | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-otv-'));
  const sandbox = await startSandbox(size);
  try {
    const configPath = writeBenchConfig(sandbox.ready, dir, {
      otInventory: { source: inventorySource, sensorValidation: 'auto', batchSize },
      otVulnerabilities: { source, batchSize, concurrency },
    });
    const inventory = await timedSync(configPath, 'ot-inventory');
    if (withRatios) await journal(sandbox, true);
    const initial = await measuredSync<Summary>(
      sandbox.ready,
      sandbox.agent,
      configPath,
      'ot-vulnerabilities',
    );
    const requests = withRatios ? await journaled(sandbox) : undefined;
    if (withRatios) await journal(sandbox, false);
    const noop = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'ot-vulnerabilities');
    const s = initial.summary;
    // What the sandbox inserted, not what Snowline reports: NVD entries, vulnerable items (Snowline
    // pairs each new detection with its item, or the platform's roll-up makes it) and detections.
    const inserted = initial.counts.servicenow.inserted;
    const detections = inserted.sn_vul_detection ?? 0;
    const items = inserted.sn_vul_vulnerable_item ?? 0;
    const entries = inserted.sn_vul_nvd_entry ?? 0;
    const floor =
      Math.ceil(entries / batchSize) + Math.ceil(items / batchSize) + Math.ceil(detections / batchSize);
    const sn = initial.counts.servicenow;
    const writes = sn.writes + initial.counts.defender.writes;
    // ot-vulnerabilities writes no CMDB table: what ot-inventory left there is unchanged since.
    const afterInventory = (fresh: Parameters<typeof seedFrom>[1]) =>
      seedFrom(sandbox, fresh, OT_INVENTORY_TABLES);
    const ratios = requests && {
      snowlineMs: initial.wallMs,
      naive: await withSandbox(size, async (fresh) => {
        await afterInventory(fresh);
        return naiveCopy(sandbox, fresh, { tables: VULNERABILITY_TABLES, lanes: { phases: concurrency } });
      }),
      replay: await withSandbox(size, async (fresh) => {
        await afterInventory(fresh);
        return replayFloor(
          fresh,
          requests,
          { phases: concurrency },
          {
            recorded: sandbox,
            tables: VULNERABILITY_TABLES,
          },
        );
      }),
    };
    const result: FlowBenchResult = {
      flow: 'ot-vulnerabilities',
      size,
      latencyMs: benchNetwork().latencyMs,
      jitterMs: benchNetwork().jitterMs,
      records: detections,
      wallMs: Math.round(initial.wallMs),
      recordsPerSec: Math.round(detections / (initial.wallMs / 1000)),
      requests: {
        servicenow: sn.total,
        defender: initial.counts.defender.total,
        floor,
        ratio: round(writes / floor, 3),
      },
      peakRssMb: Math.round(initial.peakRssMb),
      noop: {
        wallMs: Math.round(noop.wallMs),
        writes: noop.counts.servicenow.writes + noop.counts.defender.writes,
      },
      detail: {
        source,
        batchSize,
        outcome: s.outcome,
        inventory: { wallMs: Math.round(inventory.wallMs), created: inventory.summary.created },
        nvdEntriesCreated: entries,
        itemsCreated: items,
        detectionsOpened: detections,
        reported: { created: s.created, opened: s.opened },
        batchCalls: sn.batchCalls,
        innerWrites: sn.innerWrites,
        serviceNowReads: sn.total - sn.writes,
        requestsPerDetection: round(sn.total / detections, 4),
        floorPerDetection: round(floor / detections, 4),
        pending: s.pending,
        truncated: s.truncated,
        problems: s.problems,
        errors: s.errors,
        noop: {
          ofInitial: round(noop.wallMs / initial.wallMs, 3),
          serviceNowRequests: noop.counts.servicenow.total,
          defenderRequests: noop.counts.defender.total,
          unchanged: noop.summary.unchanged,
          peakRssMb: Math.round(noop.peakRssMb),
        },
      },
    };
    return { result, ratios };
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: FlowBenchResult[] = [];
for (const size of sizes) {
  process.stderr.write(`ot-vulnerabilities benchmark (${source}): ${size}…\n`);
  const { main, replay, naive } = await measureWithRatios(size, sample, measure);
  const result = { ...main.result, replay, naive };
  results.push(result);
  report(result, json);
}
writeResults('ot-vulnerabilities', results);
