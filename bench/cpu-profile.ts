/**
 * Where a Snowline run's time went, from a V8 CPU profile (`BENCH_CPU_PROF=<dir>` on a bench, or
 * `node --cpu-prof dist/cli.js …`): the share of the run spent idle (waiting on the network or the
 * disk), in Snowline's own code, in each dependency, and in Node itself, then the functions with
 * the most self time.
 *
 *   npx tsx bench/cpu-profile.ts <file.cpuprofile> [--top 25] [--json]
 *
 * Not a test: it reads a profile and prints.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, json: { type: 'boolean', default: false } },
});
const file = positionals[0];
if (!file) throw new Error('usage: npx tsx bench/cpu-profile.ts <file.cpuprofile> [--top N] [--json]');

/** The parts of a `.cpuprofile` this reads (Chrome DevTools protocol `Profiler.Profile`). */
interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

/** Which part of the process a frame belongs to: idle, GC, Snowline, a package, or Node. */
function areaOf(frame: { functionName: string; url: string }): string {
  if (frame.functionName === '(idle)') return 'idle (waiting on I/O)';
  if (frame.functionName === '(garbage collector)') return 'garbage collector';
  if (frame.functionName === '(program)') return 'V8 and native (program)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (pkg) return `package ${pkg[1]}`;
  const own = /\/dist\/(.+?)\/[^/]+\.js$/.exec(frame.url);
  if (own) return `snowline ${own[1]}`;
  if (/\/dist\/[^/]+\.js$/.test(frame.url)) return 'snowline (top level)';
  if (frame.url.startsWith('node:') || frame.url === '') return 'node core';
  return frame.url;
}

const totalUs = profile.endTime - profile.startTime;
const areas = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of selfUs) {
  const frame = frames.get(id)!;
  const area = areaOf(frame);
  areas.set(area, (areas.get(area) ?? 0) + us);
  const where = frame.url
    ? `${frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`
    : '';
  const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
  functions.set(name, (functions.get(name) ?? 0) + us);
}
const rank = (m: Map<string, number>, n: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, seconds: +(us / 1e6).toFixed(2), share: +(us / totalUs).toFixed(3) }));
const result = {
  file,
  seconds: +(totalUs / 1e6).toFixed(2),
  areas: rank(areas, 40),
  functions: rank(functions, Number(values.top)),
};
if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  process.stdout.write(`${file}: ${result.seconds} s profiled\n\nby area:\n`);
  for (const a of result.areas)
    process.stdout.write(
      `  ${(a.share * 100).toFixed(1).padStart(5)}%  ${a.seconds.toFixed(2).padStart(8)} s  ${a.name}\n`,
    );
  process.stdout.write('\nfunctions by self time:\n');
  for (const f of result.functions)
    process.stdout.write(
      `  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.seconds.toFixed(2).padStart(8)} s  ${f.name}\n`,
    );
}
