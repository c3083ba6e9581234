/**
 * Benchmark of flow ot-vulnerabilities, the way a user would run it: the sandboxes in their own
 * process (`dist/sandbox/main.js`), Snowline as `snowline sync` in another, timed from outside,
 * with its peak RSS read from /proc. ot-inventory runs first (its own `snowline sync`, timed
 * apart) so that the device CIs exist; then ot-vulnerabilities is timed on its first run and on
 * an unchanged re-run. Figures are printed and written to bench/results/.
 *
 *   npx tsx bench/ot-vulnerabilities.ts [--devices 10000,large] [--batch 100] [--source console|sensor]
 *
 * Not a test: nothing here asserts a time.
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { sandboxConfig } from '../src/cli/sandbox-config.js';
import type { SandboxReady } from '../src/cli/sandbox-process.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000,large' },
    batch: { type: 'string', default: '100' },
    source: { type: 'string', default: 'console' },
  },
});
const sizes = values.devices!.split(',');
const batchSize = Number(values.batch);
const source = values.source!;
if (source !== 'console' && source !== 'sensor') throw new Error('--source is console or sensor');
if (!existsSync('dist/cli.js')) throw new Error('build first: npm run build');

/** The part of a flow's `--json` summary the benchmark reads. */
interface FlowSummaryJson {
  outcome: string;
  created: number;
  opened: number;
  unchanged: number;
  pending: number;
  truncated: number;
  problems: number;
  errors: number;
  requests: { servicenow: number; defender: number };
}

interface Timed {
  wallMs: number;
  peakRssMb: number;
  summary: FlowSummaryJson;
}

interface Stats {
  writes: number;
  total: number;
  batchCalls: number;
  innerWrites: number;
}

async function startSandbox(size: string): Promise<{ ready: SandboxReady; stop: () => Promise<void> }> {
  const args = size === 'large' || size === 'demo' ? ['--dataset', size] : ['--devices', size];
  const child = spawn(process.execPath, ['dist/sandbox/main.js', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sandbox exited (${code})`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ready: JSON.parse(line) as SandboxReady,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `snowline sync --job <flow>` and samples its peak RSS (VmHWM) until it exits. */
async function timedSync(configPath: string, flow: string): Promise<Timed> {
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
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // The process is gone between the check and the read.
    }
    await sleep(50);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`snowline sync --job ${flow} exited ${code}: ${stdout}`);
  return {
    wallMs: performance.now() - started,
    peakRssMb: peakKb / 1024,
    summary: (JSON.parse(stdout) as { jobs: Record<string, FlowSummaryJson> }).jobs[flow]!,
  };
}

async function serviceNowStats(ready: SandboxReady, agent: Agent): Promise<Stats> {
  const response = await request(`${ready.servicenow.url}/_sandbox/stats`, { dispatcher: agent });
  const stats = (await response.body.json()) as {
    total: number;
    writes: number;
    byApi: { batch?: { POST?: number } };
    batchInner: { writes: number };
  };
  return {
    writes: stats.writes,
    total: stats.total,
    batchCalls: stats.byApi.batch?.POST ?? 0,
    innerWrites: stats.batchInner.writes,
  };
}

function delta(after: Stats, before: Stats): Stats {
  return {
    writes: after.writes - before.writes,
    total: after.total - before.total,
    batchCalls: after.batchCalls - before.batchCalls,
    innerWrites: after.innerWrites - before.innerWrites,
  };
}

async function measure(size: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-otv-'));
  const sandbox = await startSandbox(size);
  const agent = new Agent({ connect: { ca: readFileSync(sandbox.ready.caFile!) } });
  try {
    const { loaded } = sandboxConfig(sandbox.ready, {
      storeUrl: join(dir, 'bench.sqlite'),
      integrationId: 'bench',
    });
    const raw = structuredClone(loaded.config) as { integrations: { flows: unknown }[] };
    raw.integrations[0]!.flows = {
      otInventory: { source, sensorValidation: 'auto', batchSize },
      otVulnerabilities: { source, batchSize },
    };
    const configPath = join(dir, 'bench.yaml');
    writeFileSync(configPath, stringify(raw));

    const inventory = await timedSync(configPath, 'ot-inventory');
    const runs: (Timed & { servicenow: Stats })[] = [];
    for (let i = 0; i < 2; i++) {
      const before = await serviceNowStats(sandbox.ready, agent);
      const run = await timedSync(configPath, 'ot-vulnerabilities');
      runs.push({ ...run, servicenow: delta(await serviceNowStats(sandbox.ready, agent), before) });
    }
    const [initial, noop] = runs as [(typeof runs)[0], (typeof runs)[0]];
    const s = initial.summary;
    const detections = s.opened;
    const entries = s.created - detections;
    // The fewest Batch calls that can carry the writes: the NVD entries, then the detections.
    const floor = Math.ceil(entries / batchSize) + Math.ceil(detections / batchSize);
    return {
      size,
      source,
      batchSize,
      inventory: {
        seconds: +(inventory.wallMs / 1000).toFixed(1),
        created: inventory.summary.created,
        outcome: inventory.summary.outcome,
      },
      initial: {
        seconds: +(initial.wallMs / 1000).toFixed(1),
        outcome: s.outcome,
        nvdEntriesCreated: entries,
        detectionsOpened: detections,
        detectionsPerSecond: Math.round(detections / (initial.wallMs / 1000)),
        pending: s.pending,
        truncated: s.truncated,
        problems: s.problems,
        errors: s.errors,
        serviceNowRequests: initial.servicenow.total,
        batchCalls: initial.servicenow.batchCalls,
        batchCallFloor: floor,
        batchCallsOverFloor: +(initial.servicenow.batchCalls / floor).toFixed(3),
        serviceNowReads: initial.servicenow.total - initial.servicenow.writes,
        requestsPerDetection: +(initial.servicenow.total / detections).toFixed(4),
        floorPerDetection: +(floor / detections).toFixed(4),
        defenderRequests: s.requests.defender,
        peakRssMb: Math.round(initial.peakRssMb),
      },
      noop: {
        seconds: +(noop.wallMs / 1000).toFixed(1),
        ofInitial: +(noop.wallMs / initial.wallMs).toFixed(3),
        serviceNowWrites: noop.servicenow.writes,
        serviceNowRequests: noop.servicenow.total,
        defenderRequests: noop.summary.requests.defender,
        unchanged: noop.summary.unchanged,
        pending: noop.summary.pending,
        peakRssMb: Math.round(noop.peakRssMb),
      },
    };
  } finally {
    await agent.close();
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<string, unknown>[] = [];
for (const size of sizes) {
  process.stderr.write(`ot-vulnerabilities benchmark (${source}): ${size}…\n`);
  const figures = await measure(size);
  results.push(figures);
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${new Date().toISOString().slice(0, 10)}-ot-vulnerabilities-${source}.json`;
writeFileSync(file, `${JSON.stringify({ node: process.version, cpus: cpus().length, results }, null, 2)}\n`);
process.stderr.write(`wrote ${file}\n`);
