/**
 * Benchmark of flow ot-vulnerabilities, the way a user would run it: the sandboxes in their own
 * process (`dist/sandbox/main.js`), Snowline as `snowline sync` in another, timed from outside,
 * with its peak RSS read from /proc. ot-inventory runs first (its own `snowline sync`, timed
 * apart) so that the device CIs exist; then ot-vulnerabilities is timed on its first run and on
 * an unchanged re-run.
 *
 *   npx tsx bench/ot-vulnerabilities.ts [--size demo|large|N[,…]] [--json] [--batch 100] [--source console|sensor]
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
  measuredSync,
  report,
  round,
  startSandbox,
  timedSync,
  writeBenchConfig,
  writeResults,
  type FlowBenchResult,
} from './flow-bench.js';

const { sizes, json, values } = benchArgs({
  batch: { type: 'string', default: '100' },
  source: { type: 'string', default: 'console' },
});
const batchSize = Number(values.batch);
const source = values.source;
if (source !== 'console' && source !== 'sensor') throw new Error('--source is console or sensor');

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

async function measure(size: string): Promise<FlowBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-otv-'));
  const sandbox = await startSandbox(size);
  try {
    const configPath = writeBenchConfig(sandbox.ready, dir, {
      otInventory: { source, sensorValidation: 'auto', batchSize },
      otVulnerabilities: { source, batchSize },
    });
    const inventory = await timedSync(configPath, 'ot-inventory');
    const initial = await measuredSync<Summary>(
      sandbox.ready,
      sandbox.agent,
      configPath,
      'ot-vulnerabilities',
    );
    const noop = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'ot-vulnerabilities');
    const s = initial.summary;
    const detections = s.opened;
    const entries = s.created - detections;
    const floor = Math.ceil(entries / batchSize) + Math.ceil(detections / batchSize);
    const sn = initial.counts.servicenow;
    const writes = sn.writes + initial.counts.defender.writes;
    return {
      flow: 'ot-vulnerabilities',
      size,
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
        detectionsOpened: detections,
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
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: FlowBenchResult[] = [];
for (const size of sizes) {
  process.stderr.write(`ot-vulnerabilities benchmark (${source}): ${size}…\n`);
  const result = await measure(size);
  results.push(result);
  report(result, json);
}
writeResults('ot-vulnerabilities', results);
