/**
 * `npm run bench [-- --size demo|large|N] [--latency MS] [--jitter MS] [--growth] [--json]`: every
 * flow's benchmark, one child process per flow script (each starts its own sandboxes and Snowline
 * processes), their JSON figures collected into `bench/results/<date>.json`, a Markdown table
 * printed for docs/performance.md, and everything logged to `bench/results/<date>.log` as it
 * happens. With `--latency`, each flow runs at 0 ms and again with that round trip (and seeded
 * `--jitter`) added to every request of both sandboxes: one `flows[]` entry per flow and latency,
 * each with its `latencyMs` (`--latency-only` skips the 0 ms pass). At a latency the naive client
 * runs on a small sample (`--naive-sample`, default 300 devices) and says so.
 *
 * A `large` run takes a long time: start it in the background and follow the log:
 *
 *   nohup npm run bench -- --size large > /dev/null 2>&1 &
 *   tail -f bench/results/$(date -u +%F).log
 *
 * `--growth` runs ot-inventory on 10k, 25k, 50k and 100k devices (time and peak RSS, which
 * should grow linearly and stay flat). A flow slots in by adding one entry to FLOW_SCRIPTS.
 * Not a test: nothing here asserts a time.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

/** The per-flow scripts, in dependency order. Each accepts `--size … --json` and prints one JSON object. */
const FLOW_SCRIPTS: readonly { flow: string; script: string }[] = [
  { flow: 'ot-inventory', script: 'bench/ot-inventory.ts' },
  { flow: 'ot-vulnerabilities', script: 'bench/ot-vulnerabilities.ts' },
  { flow: 'cloud-tickets', script: 'bench/cloud-tickets.ts' },
  { flow: 'ticket-sync', script: 'bench/ticket-sync.ts' },
  { flow: 'ot-alerts', script: 'bench/ot-alerts.ts' },
];

/** Device counts of the growth series. */
const GROWTH = [10_000, 25_000, 50_000, 100_000];

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'demo' },
    growth: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    latency: { type: 'string', default: '0' },
    jitter: { type: 'string', default: '0' },
    'naive-sample': { type: 'string', default: '300' },
    'latency-only': { type: 'boolean', default: false },
  },
});
for (const option of ['latency', 'jitter', 'naive-sample'] as const)
  if (!/^\d+$/.test(values[option]!)) throw new Error(`--${option} is a whole number of ms or devices`);
/** Each flow at 0 ms, and at `--latency` when given (`--latency-only`: at `--latency` alone). */
const latencies = values['latency-only']
  ? [Number(values.latency)]
  : [...new Set([0, Number(values.latency)])];
const size = values.size!;
if (!['demo', 'large'].includes(size) && !/^[1-9]\d*$/.test(size)) {
  throw new Error(`--size ${size}: use demo, large or a number of devices`);
}

const started = new Date();
const stamp = started.toISOString().slice(0, 10);
mkdirSync('bench/results', { recursive: true });
const logFile = `bench/results/${stamp}.log`;
const resultFile = `bench/results/${stamp}.json`;

function log(line: string): void {
  appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  if (!values.json) process.stderr.write(`${line}\n`);
}

/** A flow script's JSON object (bench/harness.ts `FlowBenchResult`), read loosely: a script may add fields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- printed figures of scripts owned by several flows
type FlowFigures = Record<string, any>;

/** One script run: its JSON result, or what went wrong (the other flows still run). */
type Outcome =
  | { ok: true; result: FlowFigures }
  | { ok: false; flow: string; size: string; latencyMs: number; error: string };

async function runScript(flow: string, script: string, args: string[]): Promise<Outcome> {
  const label = `${flow} ${args.join(' ')}`;
  const failed = (error: string): Outcome => ({
    ok: false,
    flow,
    size: args[1]!,
    latencyMs: args.includes('--latency') ? Number(args[args.indexOf('--latency') + 1]) : 0,
    error,
  });
  if (!existsSync(script)) return failed(`${script} does not exist yet`);
  log(`start ${label}`);
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  // The scripts' progress and warnings go to the log as they come.
  child.stderr.on('data', (chunk) => appendFileSync(logFile, String(chunk)));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';
  try {
    if (code !== 0) throw new Error(`exited ${code}`);
    const result = JSON.parse(lastLine) as FlowFigures;
    log(`done ${label}: ${lastLine}`);
    return { ok: true, result };
  } catch (error) {
    const message = `${(error as Error).message}; see ${logFile}`;
    log(`FAILED ${label}: ${message}`);
    return failed(message);
  }
}

const flows: Outcome[] = [];
for (const latency of latencies) {
  const network = ['--latency', String(latency), '--jitter', latency > 0 ? values.jitter! : '0'];
  for (const { flow, script } of FLOW_SCRIPTS)
    flows.push(
      await runScript(flow, script, ['--size', size, ...network, '--naive-sample', values['naive-sample']!]),
    );
}
const growth: Outcome[] = [];
if (values.growth) {
  for (const devices of GROWTH) {
    growth.push(
      await runScript('ot-inventory', 'bench/ot-inventory.ts', ['--size', String(devices), '--sample', '0']),
    );
  }
}

const report = {
  startedAt: started.toISOString(),
  finishedAt: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  size,
  latencies,
  jitterMs: Number(values.jitter),
  flows: flows.map((o) =>
    o.ok ? o.result : { flow: o.flow, size: o.size, latencyMs: o.latencyMs, error: o.error },
  ),
  ...(values.growth
    ? { growth: growth.map((o) => (o.ok ? o.result : { size: o.size, error: o.error })) }
    : {}),
};
writeFileSync(resultFile, `${JSON.stringify(report, null, 2)}\n`);
log(`wrote ${resultFile}`);

/** The figures as docs/performance.md shows them. */
function table(): string {
  const cell = (v: unknown) => (v === undefined || v === null ? '–' : String(v));
  const lines = [
    '| flow | size | latency ms | records | wall s | records/s | requests SN / Defender | floor (ratio) | peak RSS MB | no-op s (writes) | replay floor ratio | naive client ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of report.flows as FlowFigures[]) {
    if (r.error) {
      lines.push(`| ${r.flow} | ${r.size} | ${cell(r.latencyMs)} | ${cell(r.error)} | | | | | | | | |`);
      continue;
    }
    // Every replay and naive copy is checked against Snowline's canonical dump.
    const ratio = (x: FlowFigures | null | undefined) =>
      x
        ? `${x.ratio}${x.sameState ? '' : ' (state differs)'}${x.sample ? ` (sample ${x.sample})` : ''}`
        : '–';
    const naive = ratio(r.naive);
    const replay = ratio(r.replay);
    lines.push(
      `| ${r.flow} | ${r.size} | ${cell(r.latencyMs)} | ${r.records} | ${(r.wallMs / 1000).toFixed(1)} | ${r.recordsPerSec} | ${r.requests.servicenow} / ${r.requests.defender} | ${r.requests.floor} (${r.requests.ratio}) | ${r.peakRssMb} | ${(r.noop.wallMs / 1000).toFixed(1)} (${r.noop.writes}) | ${replay} | ${naive} |`,
    );
  }
  if (report.growth) {
    lines.push(
      '',
      '| devices | records | wall s | records/s | peak RSS MB |',
      '| ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of report.growth as FlowFigures[]) {
      lines.push(
        r.error
          ? `| ${r.size} | ${r.error} | | | |`
          : `| ${r.size} | ${r.records} | ${(r.wallMs / 1000).toFixed(1)} | ${r.recordsPerSec} | ${r.peakRssMb} |`,
      );
    }
  }
  return lines.join('\n');
}

process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${table()}\n`);
appendFileSync(logFile, `${table()}\n`);
// A flow that failed fails the run, after every figure that could be measured was written.
process.exitCode = flows.some((o) => !o.ok && !o.error.includes('does not exist yet')) ? 1 : 0;
