/**
 * Benchmark of flow ot-inventory, the way a user would run it: the sandboxes in their own
 * process (`dist/sandbox/main.js`), Snowline as `snowline sync` in another, timed from outside,
 * with its peak RSS read from /proc. Figures are printed and written to bench/results/.
 *
 *   npx tsx bench/ot-inventory.ts [--devices 10000,large] [--batch 100]
 *
 * Not a test: nothing here asserts a time.
 */
import { spawn } from 'node:child_process';
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
  options: { devices: { type: 'string', default: '10000,large' }, batch: { type: 'string', default: '100' } },
});
const sizes = values.devices!.split(',');
const batchSize = Number(values.batch);
if (!existsSync('dist/cli.js')) throw new Error('build first: npm run build');

/** The parts of the ot-inventory summary the benchmark reports. */
interface InventorySummary {
  created: number;
  updated: number;
  errors: number;
  skipped: number;
  ireItems: number;
  requests: { servicenow: number; defender: number };
}

interface RunFigures {
  wallMs: number;
  peakRssMb: number;
  summary: InventorySummary;
  serviceNowWrites: number;
  ireRequests: number;
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

/** Runs `snowline sync` and samples its peak RSS (VmHWM) until it exits. */
async function timedSync(
  configPath: string,
): Promise<{ wallMs: number; peakRssMb: number; summary: InventorySummary }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['dist/cli.js', '--config', configPath, '--log-level', 'warn', 'sync', '--job', 'ot-inventory', '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let stdout = '';
  child.stdout!.on('data', (chunk) => (stdout += String(chunk)));
  let peakKb = 0;
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => ((done = true), resolve(code))),
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
  if (code !== 0) throw new Error(`snowline sync exited ${code}: ${stdout}`);
  const summary = (JSON.parse(stdout) as { jobs: { 'ot-inventory': InventorySummary } }).jobs['ot-inventory'];
  return { wallMs: performance.now() - started, peakRssMb: peakKb / 1024, summary };
}

async function serviceNowStats(ready: SandboxReady, agent: Agent): Promise<{ writes: number; ire: number }> {
  const response = await request(`${ready.servicenow.url}/_sandbox/stats`, { dispatcher: agent });
  const stats = (await response.body.json()) as { writes: number; byApi: { ire?: { POST?: number } } };
  return { writes: stats.writes, ire: stats.byApi.ire?.POST ?? 0 };
}

async function measure(size: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-'));
  const sandbox = await startSandbox(size);
  const agent = new Agent({ connect: { ca: readFileSync(sandbox.ready.caFile!) } });
  try {
    const { loaded } = sandboxConfig(sandbox.ready, {
      storeUrl: join(dir, 'bench.sqlite'),
      integrationId: 'bench',
    });
    const raw = structuredClone(loaded.config) as { integrations: { flows: unknown }[] };
    raw.integrations[0]!.flows = { otInventory: { source: 'console', sensorValidation: 'auto', batchSize } };
    const configPath = join(dir, 'bench.yaml');
    writeFileSync(configPath, stringify(raw));

    const runs: RunFigures[] = [];
    for (let i = 0; i < 2; i++) {
      const before = await serviceNowStats(sandbox.ready, agent);
      const run = await timedSync(configPath);
      const after = await serviceNowStats(sandbox.ready, agent);
      runs.push({
        ...run,
        serviceNowWrites: after.writes - before.writes,
        ireRequests: after.ire - before.ire,
      });
    }
    const [initial, noop] = runs as [RunFigures, RunFigures];
    const s = initial.summary;
    const entities = s.created + s.updated;
    const floor = Math.ceil(s.ireItems / batchSize);
    return {
      size,
      devices: (sandbox.ready.estate as { devices?: number } | undefined)?.devices,
      batchSize,
      initial: {
        seconds: +(initial.wallMs / 1000).toFixed(1),
        entitiesWritten: entities,
        entitiesPerSecond: Math.round(entities / (initial.wallMs / 1000)),
        ireItems: s.ireItems,
        ireRequests: initial.ireRequests,
        floor,
        requestsOverFloor: +(initial.ireRequests / floor).toFixed(3),
        defenderRequests: s.requests.defender,
        peakRssMb: Math.round(initial.peakRssMb),
        errors: s.errors,
        skipped: s.skipped,
      },
      noop: {
        seconds: +(noop.wallMs / 1000).toFixed(1),
        ofInitial: +(noop.wallMs / initial.wallMs).toFixed(3),
        serviceNowWrites: noop.serviceNowWrites,
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
  process.stderr.write(`ot-inventory benchmark: ${size}…\n`);
  const figures = await measure(size);
  results.push(figures);
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${new Date().toISOString().slice(0, 10)}-ot-inventory.json`;
writeFileSync(
  file,
  `${JSON.stringify({ node: process.version, cpus: (await import('node:os')).cpus().length, results }, null, 2)}\n`,
);
process.stderr.write(`wrote ${file}\n`);
