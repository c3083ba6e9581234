/**
 * What the flow benchmarks (bench/ot-vulnerabilities.ts, bench/cloud-tickets.ts) share: the
 * sandboxes in their own process, `snowline sync --job <flow>` in another (timed from outside,
 * peak RSS from /proc), the sandboxes' request counters, and the result file. Not a test:
 * nothing here asserts a time.
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { sandboxConfig } from '../src/cli/sandbox-config.js';
import type { SandboxReady } from '../src/cli/sandbox-process.js';

/** One benchmark run as `--json` prints it (one object per line) and the result file keeps it. */
export interface FlowBenchResult {
  readonly flow: string;
  /** `demo`, `large`, or the number of devices of the generated estate. */
  readonly size: string;
  /** What the flow wrote per record on its first run (detections opened; covered assessments). */
  readonly records: number;
  readonly wallMs: number;
  readonly recordsPerSec: number;
  readonly requests: {
    readonly servicenow: number;
    readonly defender: number;
    /** The fewest write requests that can carry the first run's writes. */
    readonly floor: number;
    /** Write requests of the first run over the floor (1 = at the floor). */
    readonly ratio: number;
  };
  readonly peakRssMb: number;
  /** The unchanged re-run: its time and the write requests it made on either side. */
  readonly noop: { readonly wallMs: number; readonly writes: number };
  /** Flow-specific figures (counts per entity, reads, the preparing flow's run…). */
  readonly detail: Record<string, unknown>;
}

/** `--size demo|large|N[,…]` and `--json`, plus the flow's own options. */
export function benchArgs(options: Record<string, { type: 'string'; default: string }>): {
  sizes: string[];
  json: boolean;
  values: Record<string, string>;
} {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'demo' },
      json: { type: 'boolean', default: false },
      ...options,
    },
  });
  const all = values as Record<string, string | boolean | undefined>;
  const sizes = String(all.size).split(',');
  for (const size of sizes)
    if (size !== 'demo' && size !== 'large' && !/^\d+$/.test(size))
      throw new Error(`--size is demo, large or a number of devices, not "${size}"`);
  if (!existsSync('dist/cli.js')) throw new Error('build first: npm run build');
  const strings = Object.fromEntries(Object.keys(options).map((k) => [k, String(all[k])]));
  return { sizes, json: all.json === true, values: strings };
}

/** The sandboxes in their own process, with the estate of `size`. */
export async function startSandbox(size: string): Promise<{
  ready: SandboxReady;
  agent: Agent;
  stop: () => Promise<void>;
}> {
  const args = size === 'large' || size === 'demo' ? ['--dataset', size] : ['--devices', size];
  const child = spawn(process.execPath, ['dist/sandbox/main.js', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sandbox exited (${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = JSON.parse(line) as SandboxReady;
  const agent = new Agent({ connect: { ca: readFileSync(ready.caFile!) } });
  return {
    ready,
    agent,
    stop: async () => {
      await agent.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Writes the sandbox configuration with the given `flows` section; returns its path. */
export function writeBenchConfig(ready: SandboxReady, dir: string, flows: Record<string, unknown>): string {
  const { loaded } = sandboxConfig(ready, { storeUrl: `${dir}/bench.sqlite`, integrationId: 'bench' });
  const raw = structuredClone(loaded.config) as { integrations: { flows: unknown }[] };
  raw.integrations[0]!.flows = flows;
  const path = `${dir}/bench.yaml`;
  writeFileSync(path, stringify(raw));
  return path;
}

/** A timed `snowline sync --job <flow> --json`: wall time, peak RSS (VmHWM) and its summary. */
export interface TimedSync<S> {
  readonly wallMs: number;
  readonly peakRssMb: number;
  readonly summary: S;
}

/** Runs `snowline sync --job <flow> --json` and samples its peak RSS until it exits. */
export async function timedSync<S>(configPath: string, flow: string): Promise<TimedSync<S>> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['dist/cli.js', '--config', configPath, '--log-level', 'warn', 'sync', '--job', flow, '--json'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let stdout = '';
  child.stdout!.on('data', (chunk) => (stdout += String(chunk)));
  let peakKb = 0;
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      done = true;
      resolve(code);
    }),
  );
  while (!done) {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // The process is gone between the check and the read.
    }
    await sleep(50);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`snowline sync --job ${flow} exited ${code}: ${stdout.slice(0, 2000)}`);
  return {
    wallMs: performance.now() - started,
    peakRssMb: peakKb / 1024,
    summary: (JSON.parse(stdout) as { jobs: Record<string, S> }).jobs[flow]!,
  };
}

/** The request counters of both sandboxes (ServiceNow's Batch calls and their inner writes apart). */
export interface SandboxCounts {
  readonly servicenow: { total: number; writes: number; batchCalls: number; innerWrites: number };
  readonly defender: { total: number; writes: number };
}

export async function sandboxCounts(ready: SandboxReady, agent: Agent): Promise<SandboxCounts> {
  const get = async (url: string) => (await request(url, { dispatcher: agent })).body.json();
  const sn = (await get(`${ready.servicenow.url}/_sandbox/stats`)) as {
    total: number;
    writes: number;
    byApi: { batch?: { POST?: number } };
    batchInner: { writes: number };
  };
  const df = (await get(`${ready.defender.url}/_sandbox/stats`)) as { total: number; writes: number };
  return {
    servicenow: {
      total: sn.total,
      writes: sn.writes,
      batchCalls: sn.byApi.batch?.POST ?? 0,
      innerWrites: sn.batchInner.writes,
    },
    defender: { total: df.total, writes: df.writes },
  };
}

/** What happened between two readings of the counters. */
export function countsBetween(before: SandboxCounts, after: SandboxCounts): SandboxCounts {
  return {
    servicenow: {
      total: after.servicenow.total - before.servicenow.total,
      writes: after.servicenow.writes - before.servicenow.writes,
      batchCalls: after.servicenow.batchCalls - before.servicenow.batchCalls,
      innerWrites: after.servicenow.innerWrites - before.servicenow.innerWrites,
    },
    defender: {
      total: after.defender.total - before.defender.total,
      writes: after.defender.writes - before.defender.writes,
    },
  };
}

/** A sync of `flow` with the sandboxes' counters read around it. */
export async function measuredSync<S>(
  ready: SandboxReady,
  agent: Agent,
  configPath: string,
  flow: string,
): Promise<TimedSync<S> & { counts: SandboxCounts }> {
  const before = await sandboxCounts(ready, agent);
  const run = await timedSync<S>(configPath, flow);
  return { ...run, counts: countsBetween(before, await sandboxCounts(ready, agent)) };
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

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
