/**
 * What the flow benchmarks (bench/ot-vulnerabilities.ts, bench/cloud-tickets.ts, bench/ot-alerts.ts,
 * bench/ticket-sync.ts) add to
 * bench/harness.ts: several sizes per invocation, the sandboxes' request counters around a run,
 * and the per-flow result file. Not a test: nothing here asserts a time.
 */
import { cpus } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { request, type Agent } from 'undici';
import type { SandboxReady } from '../src/cli/sandbox-process.js';
import { NETWORK_OPTIONS, timedSync, useNetwork, type FlowBenchResult } from './harness.js';

export {
  benchNetwork,
  round,
  startSandboxProcess as startSandbox,
  timedSync,
  writeBenchConfig,
  type FlowBenchResult,
} from './harness.js';

/**
 * `--size demo|large|N[,…]`, `--json` and `--sample N` (devices above which the replay floor and
 * naive client ratios run on a sample of N devices; 0 leaves them out), plus the flow's own options.
 */
export function benchArgs(options: Record<string, { type: 'string'; default: string }>): {
  sizes: string[];
  json: boolean;
  sample: number;
  values: Record<string, string>;
} {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'demo' },
      json: { type: 'boolean', default: false },
      sample: { type: 'string', default: '10000' },
      ...NETWORK_OPTIONS,
      ...options,
    },
  });
  useNetwork(values);
  const all = values as Record<string, string | boolean | undefined>;
  const sizes = String(all.size).split(',');
  for (const size of sizes)
    if (size !== 'demo' && size !== 'large' && !/^\d+$/.test(size))
      throw new Error(`--size is demo, large or a number of devices, not "${size}"`);
  if (!existsSync('dist/cli.js')) throw new Error('build first: npm run build');
  const strings = Object.fromEntries(Object.keys(options).map((k) => [k, String(all[k])]));
  const sample = Number(all.sample);
  if (!Number.isInteger(sample) || sample < 0)
    throw new Error(`--sample is a number of devices, not "${all.sample}"`);
  return { sizes, json: all.json === true, sample, values: strings };
}

/**
 * The request counters of both sandboxes (ServiceNow's Batch calls and their inner writes apart),
 * and what each sandbox counted it received: records inserted per table, governance assignments
 * written. Floors are built from these, never from Snowline's own summary.
 */
export interface SandboxCounts {
  readonly servicenow: {
    total: number;
    writes: number;
    batchCalls: number;
    innerWrites: number;
    inserted: Record<string, number>;
  };
  readonly defender: {
    total: number;
    writes: number;
    assignmentsWritten: number;
    /** ARM requests, Resource Graph queries included (token requests not). */
    arm: number;
    resourceGraph: number;
  };
}

export async function sandboxCounts(ready: SandboxReady, agent: Agent): Promise<SandboxCounts> {
  const get = async (url: string) => (await request(url, { dispatcher: agent })).body.json();
  const sn = (await get(`${ready.servicenow.url}/_sandbox/stats`)) as {
    total: number;
    writes: number;
    byApi: { batch?: { POST?: number } };
    batchInner: { writes: number };
    received: { inserted: Record<string, number> };
  };
  const df = (await get(`${ready.defender.url}/_sandbox/stats`)) as {
    total: number;
    writes: number;
    assignmentsWritten: number;
    byApi: { arm?: { total: number }; resourcegraph?: { total: number } };
  };
  const resourceGraph = df.byApi.resourcegraph?.total ?? 0;
  return {
    servicenow: {
      total: sn.total,
      writes: sn.writes,
      batchCalls: sn.byApi.batch?.POST ?? 0,
      innerWrites: sn.batchInner.writes,
      inserted: sn.received.inserted,
    },
    defender: {
      total: df.total,
      writes: df.writes,
      assignmentsWritten: df.assignmentsWritten,
      arm: (df.byApi.arm?.total ?? 0) + resourceGraph,
      resourceGraph,
    },
  };
}

/** What happened between two readings of the counters. */
export function countsBetween(before: SandboxCounts, after: SandboxCounts): SandboxCounts {
  const inserted: Record<string, number> = {};
  for (const [table, n] of Object.entries(after.servicenow.inserted))
    inserted[table] = n - (before.servicenow.inserted[table] ?? 0);
  return {
    servicenow: {
      total: after.servicenow.total - before.servicenow.total,
      writes: after.servicenow.writes - before.servicenow.writes,
      batchCalls: after.servicenow.batchCalls - before.servicenow.batchCalls,
      innerWrites: after.servicenow.innerWrites - before.servicenow.innerWrites,
      inserted,
    },
    defender: {
      total: after.defender.total - before.defender.total,
      writes: after.defender.writes - before.defender.writes,
      assignmentsWritten: after.defender.assignmentsWritten - before.defender.assignmentsWritten,
      arm: after.defender.arm - before.defender.arm,
      resourceGraph: after.defender.resourceGraph - before.defender.resourceGraph,
    },
  };
}

/** A sync of `flow` with the sandboxes' counters read around it. */
export async function measuredSync<S>(
  ready: SandboxReady,
  agent: Agent,
  configPath: string,
  flow: string,
): Promise<{ wallMs: number; peakRssMb: number; summary: S; counts: SandboxCounts }> {
  const before = await sandboxCounts(ready, agent);
  const run = await timedSync(configPath, flow);
  return {
    ...run,
    summary: run.summary as S,
    counts: countsBetween(before, await sandboxCounts(ready, agent)),
  };
}

/** Prints a result (one JSON line with `--json`, else a readable block) on stdout. */
export function report(result: FlowBenchResult, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
}

/** Writes bench/results/<date>-<flow>.json with every run of this invocation. */
export function writeResults(flow: string, results: readonly FlowBenchResult[]): void {
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${new Date().toISOString().slice(0, 10)}-${flow}.json`;
  writeFileSync(
    file,
    `${JSON.stringify({ node: process.version, cpus: cpus().length, results }, null, 2)}\n`,
  );
  process.stderr.write(`wrote ${file}\n`);
}
