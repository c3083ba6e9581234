/**
 * Benchmark of the scale-out runtime: flow ot-inventory (initial load), ot-vulnerabilities
 * (`--flow`: its initial load, after an untimed ot-inventory load by the same workers) or
 * cloud-tickets (its first run, split per subscription), run by 1,
 * 2 and 4 `snowline worker` processes on a throwaway PostgreSQL, against the sandboxes in their
 * own process, without and with latency injected per sandbox request. Prints the speed-up ratios
 * and the bound the ServiceNow request budget puts on throughput:
 *
 *   records per hour ≤ request budget per hour × records per request
 *
 *   npx tsx bench/workers.ts [--devices 2000|large] [--latency 0,50] [--workers 1,2,4]
 *                            [--source sensor|resourceGraph|console] [--budget 20000]
 *                            [--flow ot-inventory|ot-vulnerabilities|cloud-tickets]
 *
 * From the sensors (the default; ot-vulnerabilities then reads its CVEs from the sensors too) or
 * from Resource Graph (both flows; the plan finds the sensors), a run splits into one part per
 * sensor (docs/scale-out.md), which the workers share; from the console it is one partition, so
 * expect a ratio near 1 there. Each
 * worker takes `queue.concurrency` jobs at once (the configuration's default). Not a test:
 * nothing here asserts a time.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { sandboxConfig } from '../src/cli/sandbox-config.js';
import type { SandboxReady } from '../src/cli/sandbox-process.js';
import { validateConfig } from '../src/config/load.js';
import { systemClock } from '../src/domain/clock.js';
import { createLogger } from '../src/logging.js';
import { FLOW_RUN_QUEUE, startBoss } from '../src/host/queue/boss.js';
import { PgBossRunDispatcher } from '../src/host/queue/dispatcher.js';
import { openStore } from '../src/store/store.js';
import { FLOW_RUNNERS } from '../src/sync/flows.js';
import { createTestDatabase } from '../test/support/databases.js';
import { startThrowawayPostgres } from '../test/support/postgres.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '2000' },
    latency: { type: 'string', default: '0,50' },
    workers: { type: 'string', default: '1,2,4' },
    source: { type: 'string', default: 'sensor' },
    budget: { type: 'string', default: '20000' },
    flow: { type: 'string', default: 'ot-inventory' },
  },
});
const FLOWS = ['ot-inventory', 'ot-vulnerabilities', 'cloud-tickets'] as const;
type BenchFlow = (typeof FLOWS)[number];
if (!FLOWS.includes(values.flow as BenchFlow)) throw new Error(`--flow: one of ${FLOWS.join(', ')}`);
const flow = values.flow as BenchFlow;
const size = values.devices!;
const latencies = values.latency!.split(',').map(Number);
const budgetPerHour = Number(values.budget);
const workerCounts = values.workers!.split(',').map(Number);
if (workerCounts[0] !== 1 || workerCounts.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error('--workers: whole numbers, starting with 1 (the ratios are against one worker)');
const source = values.source!;
if (source !== 'sensor' && source !== 'resourceGraph' && source !== 'console')
  throw new Error('--source: sensor, resourceGraph or console');
if (!existsSync('dist/cli.js')) throw new Error('build first: npm run build');

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds a process has used so far (user + system, /proc/<pid>/stat); 0 once it is gone. */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // The fields after the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** The machine's busy and idle CPU seconds so far, over all cores (/proc/stat). */
function machineCpuSeconds(): { busy: number; idle: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return {
    busy: (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS,
    idle: (idle! + iowait!) / CLOCK_TICKS,
  };
}

async function startSandbox(): Promise<{
  ready: SandboxReady;
  pid: number | undefined;
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
  return {
    ready: JSON.parse(line) as SandboxReady,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startWorker(configPath: string, name: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['dist/cli.js', '--config', configPath, '--log-level', 'warn', 'worker', '--name', name],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
  });
  return child;
}

const pg = await startThrowawayPostgres();
const sandbox = await startSandbox();
const agent = new Agent({ connect: { ca: readFileSync(sandbox.ready.caFile!) } });
const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-workers-'));

async function control(base: string, path: string, body: unknown): Promise<void> {
  const response = await request(`${base}${path}`, {
    method: 'POST',
    dispatcher: agent,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  await response.body.text();
  if (response.statusCode >= 400) throw new Error(`${path} → ${response.statusCode}`);
}

/** One initial load of ot-inventory by `workers` workers; the sandboxes reset first. */
async function measure(workers: number, latencyMs: number) {
  for (const base of [sandbox.ready.servicenow.url, sandbox.ready.defender.url]) {
    await control(base, '/_sandbox/reset', {});
    await control(base, '/_sandbox/faults', latencyMs ? { latencyMs } : {});
  }
  const storeUrl = await createTestDatabase(pg.url, 'bench');
  const { loaded } = sandboxConfig(sandbox.ready, { storeUrl, integrationId: 'bench', withConsole: true });
  const raw = structuredClone(loaded.config) as Record<string, unknown> & {
    integrations: { flows: unknown }[];
    queue: Record<string, unknown>;
  };
  const flows = raw.integrations[0]!.flows as Record<string, unknown>;
  raw.integrations[0]!.flows =
    flow === 'cloud-tickets'
      ? // The sandbox configuration's ticket rules (split per subscription).
        { cloudTickets: flows.cloudTickets }
      : {
          otInventory: { source, sensorValidation: 'auto' },
          ...(flow === 'ot-vulnerabilities' ? { otVulnerabilities: { source } } : {}),
        };
  raw.queue = {
    ...raw.queue,
    maintenanceIntervalSeconds: 2,
    pollingIntervalSeconds: 0.5,
    leaseSeconds: 30,
    expireSeconds: 3600,
  };
  raw.log = { level: 'warn' };
  const config = validateConfig(raw, 'benchmark configuration').config;
  const configPath = join(dir, `w${workers}-l${latencyMs}.yaml`);
  writeFileSync(configPath, stringify(config));
  const store = await openStore(storeUrl);
  await store.migrate();
  const children = await Promise.all(
    Array.from({ length: workers }, (_, i) => startWorker(configPath, `w${i + 1}`)),
  );
  const boss = await startBoss(storeUrl, config.queue, { supervise: false });
  try {
    const dispatcher = new PgBossRunDispatcher({
      boss,
      config,
      store,
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
      runners: FLOW_RUNNERS,
    });
    /**
     * Where the machine's CPU went while a flow ran: the sandboxes' process, the workers, this
     * process (dispatch and polling), and the rest (PostgreSQL, the system); with the share of the
     * cores that were busy. A share near 1 means the cores, not the workers, bound the run.
     */
    const cpuNow = () => ({
      machine: machineCpuSeconds(),
      sandbox: processCpuSeconds(sandbox.pid),
      workers: children.reduce((n, c) => n + processCpuSeconds(c.pid), 0),
      bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    let cpuBefore = cpuNow();
    /** Runs one flow on the workers, timed until the queue holds nothing more to run. */
    const runFlow = async (name: BenchFlow) => {
      cpuBefore = cpuNow();
      const started = performance.now();
      await dispatcher.dispatch({ integrationId: 'bench', flows: [name], dryRun: false, trigger: 'api' });
      for (;;) {
        const { rows } = await sql<{ n: string }>`select count(*) as n from pgboss.job
          where name = ${FLOW_RUN_QUEUE} and state in ('created', 'retry', 'active')`.execute(store.db);
        if (Number(rows[0]?.n) === 0) break;
        await sleep(200);
      }
      return (performance.now() - started) / 1000;
    };
    // ot-vulnerabilities needs the CIs: ot-inventory loads them first, untimed.
    if (flow === 'ot-vulnerabilities') await runFlow('ot-inventory');
    const seconds = await runFlow(flow);
    const cpuAfter = cpuNow();
    const spent = (key: 'sandbox' | 'workers' | 'bench') => cpuAfter[key] - cpuBefore[key];
    const busy = cpuAfter.machine.busy - cpuBefore.machine.busy;
    const idle = cpuAfter.machine.idle - cpuBefore.machine.idle;
    const cpu = {
      busyShare: +(busy / Math.max(1e-9, busy + idle)).toFixed(2),
      seconds: {
        sandboxes: +spent('sandbox').toFixed(1),
        workers: +spent('workers').toFixed(1),
        bench: +spent('bench').toFixed(1),
        // PostgreSQL and everything else on the machine.
        other: +(busy - spent('sandbox') - spent('workers') - spent('bench')).toFixed(1),
      },
    };
    const flowRuns = await store.db
      .selectFrom('run_flow')
      .select(['created', 'updated', 'requests_servicenow', 'outcome'])
      .where('flow', '=', flow)
      .execute();
    // A split run is several flow runs (plan, one per sensor, sweep): their sum.
    const records = flowRuns.reduce((n, f) => n + Number(f.created) + Number(f.updated), 0);
    const requests = flowRuns.reduce((n, f) => n + Number(f.requests_servicenow), 0);
    const outcomes: Record<string, number> = {};
    for (const f of flowRuns) outcomes[f.outcome] = (outcomes[f.outcome] ?? 0) + 1;
    return {
      workers,
      latencyMs,
      seconds: +seconds.toFixed(1),
      records,
      serviceNowRequests: requests,
      flowRuns: outcomes,
      cpu,
    };
  } finally {
    await boss.stop({ graceful: false, wait: true });
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null))),
      ),
    );
    await store.close();
  }
}

const results: Record<string, unknown>[] = [];
try {
  for (const latencyMs of latencies) {
    const runs = [];
    for (const count of workerCounts) {
      const run = await measure(count, latencyMs);
      process.stderr.write(`${JSON.stringify(run)}\n`);
      runs.push(run);
    }
    const one = runs[0]!;
    const recordsPerRequest = one.records / Math.max(1, one.serviceNowRequests);
    const figures = {
      flow,
      size,
      source,
      latencyMs,
      runs,
      /** Seconds with one worker over seconds with N, by N. */
      ratios: Object.fromEntries(
        runs.slice(1).map((r) => [r.workers, +(one.seconds / r.seconds).toFixed(2)]),
      ),
      recordsPerRequest: +recordsPerRequest.toFixed(2),
      bound: {
        ifBudgetPerHour: budgetPerHour,
        recordsPerHourAtMost: Math.round(budgetPerHour * recordsPerRequest),
        observedRecordsPerHour: Object.fromEntries(
          runs.map((r) => [r.workers, Math.round((r.records / r.seconds) * 3600)]),
        ),
      },
    };
    results.push(figures);
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  }
} finally {
  await agent.close();
  await sandbox.stop();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${new Date().toISOString().slice(0, 10)}-workers-${flow === 'ot-inventory' ? '' : `${flow}-`}${source === 'sensor' ? '' : `${source}-`}${size}.json`;
writeFileSync(
  file,
  `${JSON.stringify({ node: process.version, cpus: (await import('node:os')).cpus().length, results }, null, 2)}\n`,
);
process.stderr.write(`wrote ${file}\n`);
