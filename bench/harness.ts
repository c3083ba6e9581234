/**
 * What the per-flow benchmark scripts share: the sandboxes in their own process, `snowline sync`
 * in another with its peak RSS read from /proc, the sandboxes' counters and request journal, and
 * the replay of that journal by a minimal client (the floor the engine's cost is measured against).
 *
 * Not a test: nothing here asserts a time.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers of the sandboxes' control API and of `sync --json`, read loosely */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { sandboxConfig } from '../src/cli/sandbox-config.js';
import type { SandboxReady } from '../src/cli/sandbox-process.js';

/** One flow's figures, as every per-flow script prints them (one JSON object per line with `--json`). */
export interface FlowBenchResult {
  flow: string;
  size: string;
  records: number;
  wallMs: number;
  recordsPerSec: number;
  /** Requests per side; `floor` is `ceil(items / batch)`, `ratio` ServiceNow requests over it. */
  requests: { servicenow: number; defender: number; floor: number; ratio: number };
  peakRssMb: number;
  noop: { wallMs: number; writes: number; [extra: string]: unknown };
  [extra: string]: unknown;
}

/**
 * The network every sandbox of this benchmark process puts between itself and its clients:
 * `--latency MS` and `--jitter MS` (seeded) on every API request (sandbox/common/serve.ts), and
 * `--naive-sample N`, the devices the naive client's run takes when there is latency (one Table
 * API request per record at 50 ms takes hours on a large sample; it runs on a small one and says so).
 */
export interface BenchNetwork {
  readonly latencyMs: number;
  readonly jitterMs: number;
  readonly naiveSample: number;
}

/** The command-line options of {@link BenchNetwork}, for every per-flow script's parser. */
export const NETWORK_OPTIONS = {
  latency: { type: 'string', default: '0' },
  jitter: { type: 'string', default: '0' },
  'naive-sample': { type: 'string', default: '300' },
} as const;

let network: BenchNetwork = { latencyMs: 0, jitterMs: 0, naiveSample: 300 };

/** Sets this process's {@link BenchNetwork} from the parsed {@link NETWORK_OPTIONS}; returns it. */
export function useNetwork(values: Record<string, unknown>): BenchNetwork {
  const whole = (name: string): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} is a whole number, not "${values[name]}"`);
    return n;
  };
  network = { latencyMs: whole('latency'), jitterMs: whole('jitter'), naiveSample: whole('naive-sample') };
  return network;
}

/** The network of this benchmark process (see {@link useNetwork}). */
export function benchNetwork(): BenchNetwork {
  return network;
}

/** Command line of a per-flow script: `--size demo|large|N`, `--json`, the network, plus the script's own options. */
export function benchArgs<K extends string>(
  extra: Record<K, string>,
): { size: string; json: boolean } & Record<K, string> {
  const options = Object.fromEntries(
    Object.entries<string>(extra).map(([k, v]) => [k, { type: 'string' as const, default: v }]),
  );
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'demo' },
      json: { type: 'boolean', default: false },
      ...NETWORK_OPTIONS,
      ...options,
    },
  });
  useNetwork(values);
  const size = values.size as string;
  if (!['demo', 'large'].includes(size) && !/^[1-9]\d*$/.test(size)) {
    throw new Error(`--size ${size}: use demo, large or a number of devices`);
  }
  return values as { size: string; json: boolean } & Record<K, string>;
}

/** Throws unless `npm run build` has produced the CLI and the sandbox entry the benchmark runs. */
export function requireBuild(): void {
  try {
    readFileSync('dist/cli.js');
    readFileSync('dist/sandbox/main.js');
  } catch {
    throw new Error('The benchmark runs the built CLI and sandboxes: run `npm run build` first.');
  }
}

/** Both sandboxes in their own process, and what the benchmark calls on them. */
export interface SandboxProcess {
  readonly ready: SandboxReady;
  /** An agent trusting the sandbox CA, like Snowline's own (16 keep-alive connections per origin). */
  readonly agent: Agent;
  control(side: 'servicenow' | 'defender', method: string, path: string, body?: unknown): Promise<any>;
  stop(): Promise<void>;
}

/** Starts `dist/sandbox/main.js` for a dataset size or a number of devices, behind this process's {@link benchNetwork}. */
export async function startSandboxProcess(size: string, seed = 1): Promise<SandboxProcess> {
  const args = size === 'large' || size === 'demo' ? ['--dataset', size] : ['--devices', size];
  const { latencyMs, jitterMs } = network;
  if (latencyMs > 0) args.push('--latency', String(latencyMs));
  if (jitterMs > 0) args.push('--jitter', String(jitterMs));
  const child = spawn(process.execPath, ['dist/sandbox/main.js', ...args, '--seed', String(seed)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the sandbox exited (${code}) before it was ready`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = JSON.parse(line) as SandboxReady;
  const agent = new Agent({
    connections: 16,
    keepAliveTimeout: 30_000,
    connect: { rejectUnauthorized: true, ...(ready.caFile ? { ca: readFileSync(ready.caFile) } : {}) },
  });
  return {
    ready,
    agent,
    async control(side, method, path, body) {
      const base = side === 'servicenow' ? ready.servicenow.url : ready.defender.url;
      const response = await request(`${base}${path}`, {
        method: method as 'GET',
        dispatcher: agent,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await response.body.text();
      if (response.statusCode >= 400) throw new Error(`${method} ${path} → ${response.statusCode}: ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    async stop() {
      await agent.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Writes a Snowline configuration for these sandboxes with only the given flows, and returns its path. */
export function writeBenchConfig(ready: SandboxReady, dir: string, flows: Record<string, unknown>): string {
  const { loaded } = sandboxConfig(ready, {
    storeUrl: join(dir, 'bench.sqlite'),
    integrationId: 'bench',
    // The benches' ot-inventory reads the console (connections included), though it is retired.
    withConsole: true,
  });
  const raw = structuredClone(loaded.config) as { integrations: { flows: unknown }[] };
  raw.integrations[0]!.flows = flows;
  const path = join(dir, 'bench.yaml');
  writeFileSync(path, stringify(raw));
  return path;
}

/**
 * Runs `snowline sync --job <flow> --json` and samples its peak RSS (VmHWM) until it exits. With
 * `BENCH_CPU_PROF=<dir>` in the environment, each run writes a V8 CPU profile there
 * (`--cpu-prof`), for `npx tsx bench/cpu-profile.ts <file>`.
 */
export async function timedSync(
  configPath: string,
  flow: string,
  extraArgs: readonly string[] = [],
): Promise<{ wallMs: number; peakRssMb: number; summary: Record<string, any> }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      'dist/cli.js',
      '--config',
      configPath,
      '--log-level',
      'warn',
      'sync',
      '--job',
      flow,
      '--json',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
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
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // The process ended between the check and the read.
    }
    await sleep(50);
  }
  const code = await exited;
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`snowline sync --job ${flow} exited ${code}: ${stdout.slice(0, 2000)}`);
  const summary = (JSON.parse(stdout) as { jobs: Record<string, Record<string, any>> }).jobs[flow]!;
  if (summary.outcome !== 'ok')
    throw new Error(`${flow} ended ${summary.outcome}: ${JSON.stringify(summary)}`);
  return { wallMs, peakRssMb: peakKb / 1024, summary };
}

/**
 * ServiceNow sandbox counters: outer requests and writes, IRE requests, and the IRE items the
 * sandbox received (the floor's count: the sandbox's, not the engine's report).
 */
export async function serviceNowCounters(
  sandbox: SandboxProcess,
): Promise<{ requests: number; writes: number; ire: number; ireItems: number }> {
  const stats = await sandbox.control('servicenow', 'GET', '/_sandbox/stats');
  return {
    requests: stats.total,
    writes: stats.writes,
    ire: stats.byApi.ire?.POST ?? 0,
    ireItems: stats.received.ireItems,
  };
}

/** One journaled request (see sandbox/common/journal.ts). */
export interface JournalEntry {
  /** Order of receipt across both sandboxes; absent on requests the benchmark builds itself. */
  readonly seq?: number;
  readonly method: string;
  readonly path: string;
  readonly body?: string;
}

/** What both sandboxes journaled, per side. */
export interface Journaled {
  readonly servicenow: readonly JournalEntry[];
  readonly defender: readonly JournalEntry[];
}

/** The seed of the sys_ids ServiceNow mints while a run is journaled, and during its replay. */
const REPLAY_SYS_ID_SEED = 'bench-replay';

/**
 * Switches both sandboxes' request journals on (empty) or off; while on, ServiceNow mints sys_ids
 * from {@link REPLAY_SYS_ID_SEED} (see replayFloor).
 */
export async function journal(sandbox: SandboxProcess, enabled: boolean): Promise<void> {
  await sandbox.control('servicenow', 'POST', '/_sandbox/journal', { enabled });
  await sandbox.control('defender', 'POST', '/_sandbox/journal', { enabled });
  await sandbox.control('servicenow', 'POST', '/_sandbox/sys-ids', {
    seed: enabled ? REPLAY_SYS_ID_SEED : null,
  });
}

/** What both sandboxes journaled. */
export async function journaled(sandbox: SandboxProcess): Promise<Journaled> {
  return {
    servicenow: (await sandbox.control('servicenow', 'GET', '/_sandbox/journal')).requests,
    defender: (await sandbox.control('defender', 'GET', '/_sandbox/journal')).requests,
  };
}

/** An OAuth access token of the ServiceNow sandbox (client credentials), as Snowline gets one. */
export async function serviceNowToken(sandbox: SandboxProcess): Promise<string> {
  const { servicenow } = sandbox.ready;
  const response = await request(`${servicenow.url}/oauth_token.do`, {
    method: 'POST',
    dispatcher: sandbox.agent,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: servicenow.clientId,
      client_secret: servicenow.clientSecret,
    }).toString(),
  });
  const body = (await response.body.json()) as { access_token?: string };
  if (!body.access_token)
    throw new Error(`the ServiceNow sandbox gave no token (HTTP ${response.statusCode})`);
  return body.access_token;
}

/** The Authorization header Defender expects for a path: raw OT tokens for sensors and the console, else ARM's bearer. */
function defenderAuthorization(ready: SandboxReady, path: string): string {
  const sensor = /^\/sensors\/([^/]+)\//.exec(path)?.[1];
  if (sensor) return ready.defender.sensors.find((s) => s.name === decodeURIComponent(sensor))?.token ?? '';
  if (path.startsWith('/console/')) return ready.defender.console.token;
  return `Bearer ${ready.defender.token}`;
}

/** A request for one side of a sandbox process. */
export interface Outbound extends JournalEntry {
  readonly side: 'servicenow' | 'defender';
}

/**
 * Sends requests to `sandbox` in order with `concurrency` in flight, ServiceNow's with the bearer
 * `token`, Defender's with the credential its path wants; returns how many answered 4xx/5xx.
 * With `phase`, consecutive requests of one phase go together and a phase starts once the one
 * before it has answered; a request of no phase (`undefined`) goes alone, after those before it
 * and before those after it.
 */
export async function sendAll(
  sandbox: SandboxProcess,
  token: string,
  requests: readonly Outbound[],
  concurrency: number,
  phase: (entry: Outbound) => string | undefined = () => '',
): Promise<number> {
  let failed = 0;
  for (let start = 0; start < requests.length;) {
    const first = phase(requests[start]!);
    let end = start + 1;
    while (first !== undefined && end < requests.length && phase(requests[end]!) === first) end++;
    failed += await sendConcurrently(
      sandbox,
      token,
      requests.slice(start, end),
      end - start > 1 ? concurrency : 1,
    );
    start = end;
  }
  return failed;
}

async function sendConcurrently(
  sandbox: SandboxProcess,
  token: string,
  requests: readonly Outbound[],
  concurrency: number,
): Promise<number> {
  let next = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < requests.length) {
      const entry = requests[next++]!;
      try {
        const response = await request(`${sandbox.ready[entry.side].url}${entry.path}`, {
          method: entry.method as 'GET',
          dispatcher: sandbox.agent,
          headers: {
            authorization:
              entry.side === 'servicenow'
                ? `Bearer ${token}`
                : defenderAuthorization(sandbox.ready, entry.path),
            accept: 'application/json',
            ...(entry.body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(entry.body !== undefined ? { body: entry.body } : {}),
        });
        const answer = await response.body.text();
        // The first few refusals go to stderr (the bench log): a figure built on refused requests means little.
        if (response.statusCode >= 400 && failed++ < 3) {
          process.stderr.write(
            `${entry.method} ${entry.path} → ${response.statusCode}: ${answer.slice(0, 300)}\n`,
          );
        }
      } catch (error) {
        // A connection reset counts as a refused request, and the figure says so (failed > 0).
        if (failed++ < 3)
          process.stderr.write(`${entry.method} ${entry.path} → ${(error as Error).message}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return failed;
}

/**
 * How a flow sends its requests, which the replay and the naive client copy: ot-inventory keeps
 * `servicenow` IRE requests in flight with Defender's reads alongside on `defender` lanes;
 * ot-vulnerabilities works in phases (`phases`: the reads of a chunk of devices, then its Batch
 * calls of one table, `phases` in flight, each phase after the one before: see
 * {@link phaseOf}); a flow that awaits every request sends one at a time, both sides on one lane
 * in the order the sandboxes received them (`oneLane`).
 */
export type Lanes =
  { readonly servicenow: number; readonly defender: number } | { readonly phases: number } | 'oneLane';

/**
 * The replay floor: the journaled requests sent again by a minimal client against a fresh
 * sandbox, in the flow's `lanes`, through an agent like Snowline's. OAuth token requests are
 * replaced by one token fetched before the clock starts (Snowline fetches its own inside its
 * timed run). ServiceNow mints sys_ids from the seed it used while the run was journaled: on one
 * lane the replay's creates get the run's sys_ids, so later requests naming them (a detection's
 * vulnerability, a ticket link) find the same records.
 */
export async function replayFloor(
  fresh: SandboxProcess,
  requests: Journaled,
  lanes: Lanes,
  check: StateParts & { readonly recorded: SandboxProcess },
): Promise<{ wallMs: number; requests: number; failed: number; sameState: boolean }> {
  const servicenow: Outbound[] = requests.servicenow
    .filter((r) => r.path !== '/oauth_token.do')
    .map((r) => ({ ...r, side: 'servicenow' }));
  const defender: Outbound[] = requests.defender
    .filter((r) => !/\/oauth2\//.test(r.path))
    .map((r) => ({ ...r, side: 'defender' }));
  const token = await serviceNowToken(fresh);
  await fresh.control('servicenow', 'POST', '/_sandbox/sys-ids', { seed: REPLAY_SYS_ID_SEED });
  const started = performance.now();
  // A Table API insert mints a sys_id that later requests name (a company a CI references): sent
  // alone, in the order the run sent it, it gets the run's sys_id. IRE payloads stay in lanes.
  const failed = await sendInLanes(fresh, token, servicenow, defender, lanes, isTableInsert);
  const wallMs = performance.now() - started;
  return {
    wallMs,
    requests: servicenow.length + defender.length,
    failed,
    sameState: await sameState(check.recorded, fresh, check),
  };
}

/**
 * Sends both sides' requests in `lanes`; on one lane in journal order (`seq`), or ServiceNow's
 * before Defender's for requests without one. Returns how many were refused.
 */
async function sendInLanes(
  sandbox: SandboxProcess,
  token: string,
  servicenow: readonly Outbound[],
  defender: readonly Outbound[],
  lanes: Lanes,
  alone?: (entry: Outbound) => boolean,
): Promise<number> {
  const inOrder = () => [...servicenow, ...defender].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  if (lanes === 'oneLane') return sendAll(sandbox, token, inOrder(), 1);
  // A phase at a time, in the order received: consecutive requests of one phaseOf go together,
  // and a phase starts once the one before it has answered (a detection's Batch call names the
  // vulnerable items the call before it created). Consecutive reads are one phase even where
  // the run waited for one read's answer to ask the next: the floor is lower for it, never higher.
  if ('phases' in lanes) return sendAll(sandbox, token, inOrder(), lanes.phases, phaseOf);
  const failed = await Promise.all([
    sendAll(sandbox, token, servicenow, lanes.servicenow, (entry) => (alone?.(entry) ? undefined : '')),
    sendAll(sandbox, token, defender, lanes.defender),
  ]);
  return failed[0]! + failed[1]!;
}

/**
 * The phase of a request: `read` for a ServiceNow read, the method and table of its first inner
 * request for a Batch call (one `BatchWriter.write` writes one table), none for anything else
 * (sent alone: a Defender read, whose next page the flow asks for once it has this one).
 */
function phaseOf(entry: Outbound): string | undefined {
  if (entry.side !== 'servicenow') return undefined;
  if (entry.method === 'GET') return 'read';
  if (entry.method !== 'POST' || !entry.path.startsWith('/api/now/v1/batch') || !entry.body) return undefined;
  const inner = (JSON.parse(entry.body) as { rest_requests?: { method?: string; url?: string }[] })
    .rest_requests?.[0];
  const table = /\/api\/now\/table\/([^/?]+)/.exec(inner?.url ?? '')?.[1];
  return inner && table ? `batch ${inner.method} ${table}` : undefined;
}

/** A Table API insert (it mints a sys_id). */
function isTableInsert(entry: Outbound): boolean {
  return entry.method === 'POST' && entry.path.startsWith('/api/now/table/');
}

/** Rounds for printing: `digits` decimals. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Fields the platform sets itself on insert; a client can not (and the canonical dump ignores them). */
const PLATFORM_FIELDS = new Set([
  'sys_created_on',
  'sys_created_by',
  'sys_updated_on',
  'sys_updated_by',
  'sys_mod_count',
  'sys_class_name',
  'sys_domain',
  'sys_domain_path',
  'sys_tags',
]);

/** Every record of `table` and its subclasses, each with all its fields, read through the Table API. */
async function readAll(
  sandbox: SandboxProcess,
  token: string,
  table: string,
): Promise<Record<string, string>[]> {
  const get = async (path: string): Promise<Record<string, string>[]> => {
    const response = await request(`${sandbox.ready.servicenow.url}${path}`, {
      dispatcher: sandbox.agent,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    const body = (await response.body.json()) as { result?: Record<string, string>[] };
    if (response.statusCode !== 200) throw new Error(`GET ${path} → ${response.statusCode}`);
    return body.result ?? [];
  };
  const page = 10_000;
  const classes = new Set<string>();
  for (let offset = 0; ; offset += page) {
    const rows = await get(
      `/api/now/table/${table}?sysparm_fields=sys_class_name&sysparm_limit=${page}&sysparm_offset=${offset}`,
    );
    // Tables outside the CMDB hierarchy have no sys_class_name: they are their own class.
    for (const r of rows) classes.add(r.sys_class_name || '');
    if (rows.length < page) break;
  }
  const out: Record<string, string>[] = [];
  for (const cls of classes) {
    const filter = cls ? `&sysparm_query=sys_class_name=${cls}` : '';
    for (let offset = 0; ; offset += page) {
      const rows = await get(
        `/api/now/table/${cls || table}?sysparm_exclude_reference_link=true${filter}&sysparm_limit=${page}&sysparm_offset=${offset}`,
      );
      out.push(...rows.map((r) => ({ ...r, sys_class_name: cls || table })));
      if (rows.length < page) break;
    }
  }
  return out;
}

/** A record as a client writes it: its class, and the fields a client may set. */
interface CopiedRecord {
  readonly table: string;
  readonly values: Record<string, string>;
}

/** Records each sandbox seeds for itself under its own sys_ids, with the field that names them. */
const BASELINE_KEYS = { cmdb_rel_type: 'name', sys_user: 'user_name' } as const;

/**
 * Every record of `tables` on `from` (each once, in `tables` order so references point back),
 * without the fields the platform sets itself, sys_ids kept, references to seeded records
 * (relationship types, users such as `opened_by`) mapped to `to`'s by name.
 */
async function copiedRecords(
  from: SandboxProcess,
  to: SandboxProcess,
  tables: readonly string[],
): Promise<CopiedRecord[]> {
  const [fromToken, toToken] = await Promise.all([serviceNowToken(from), serviceNowToken(to)]);
  const seededIds = new Map<string, string>();
  for (const [table, key] of Object.entries(BASELINE_KEYS)) {
    const ids = async (sandbox: SandboxProcess, token: string) =>
      new Map((await readAll(sandbox, token, table)).map((r) => [r[key], r.sys_id!]));
    const toIds = await ids(to, toToken);
    for (const [name, id] of await ids(from, fromToken)) seededIds.set(id, toIds.get(name) ?? id);
  }

  const seen = new Set<string>();
  const records: CopiedRecord[] = [];
  for (const table of tables) {
    for (const record of await readAll(from, fromToken, table)) {
      if (seen.has(record.sys_id!)) continue;
      seen.add(record.sys_id!);
      const values = Object.fromEntries(
        Object.entries(record)
          .filter(([k, v]) => !PLATFORM_FIELDS.has(k) && v !== '')
          .map(([k, v]) => [k, seededIds.get(v) ?? v]),
      );
      records.push({ table: record.sys_class_name!, values });
    }
  }
  return records;
}

/**
 * Makes the fresh sandbox `to` hold what earlier flows left in `tables` on `from`, sys_ids kept,
 * through the control API as the system (no ACLs, so IRE-only tables too) and untimed: the
 * starting point of a later flow's replay and naive client.
 */
export async function seedFrom(
  from: SandboxProcess,
  to: SandboxProcess,
  tables: readonly string[],
): Promise<void> {
  const records = await copiedRecords(from, to, tables);
  for (let i = 0; i < records.length; i += 1000) {
    const chunk: Record<string, Record<string, string>[]> = {};
    for (const r of records.slice(i, i + 1000)) (chunk[r.table] ??= []).push(r.values);
    await to.control('servicenow', 'POST', '/_sandbox/seed', chunk);
  }
}

/** The api-version of governance assignments (the one Snowline's ARM client uses). */
const GOVERNANCE_API_VERSION = '2022-01-01-preview';

/**
 * The naive client: the final state a flow reached on `from`, written to the fresh sandbox `to`
 * with one Table API request per record of `tables` (in that order so references resolve) and,
 * with `governanceAssignments`, one PUT per governance assignment in Defender; same agent and
 * `lanes` as the flow. Its time is what an integration without IRE or Batch pays for the same
 * result; it is a lower bound (a real one would also search before each create). Returns its
 * wall time and whether `to` then dumps canonically equal to `from` (ServiceNow `tables`, and
 * Defender's assignments, whose ticket links name each side's own instance URL).
 */
export async function naiveCopy(
  from: SandboxProcess,
  to: SandboxProcess,
  options: StateParts & { readonly lanes: Lanes },
): Promise<{
  wallMs: number;
  requests: number;
  failed: number;
  sameState: boolean;
  servicenowMs?: number;
  servicenowRequests?: number;
}> {
  const { tables, lanes } = options;
  // A run whose naive client is taken from the smaller naive sample (see measureWithRatios).
  if (naiveElsewhere) return { wallMs: NaN, requests: 0, failed: 0, sameState: false };
  const fromUrl = from.ready.servicenow.url;
  const toUrl = to.ready.servicenow.url;
  const servicenow: Outbound[] = (await copiedRecords(from, to, tables)).map((r) => ({
    side: 'servicenow',
    method: 'POST',
    path: `/api/now/table/${r.table}`,
    body: JSON.stringify(r.values),
  }));
  const defender: Outbound[] = options.governanceAssignments
    ? (await assignmentDump(from)).map((a) => ({
        side: 'defender',
        method: 'PUT',
        path: `${a.id}?api-version=${GOVERNANCE_API_VERSION}`,
        body: JSON.stringify({ properties: a.properties }).replaceAll(fromUrl, toUrl),
      }))
    : [];
  const token = await serviceNowToken(to);
  const started = performance.now();
  // ServiceNow's records first, then Defender's assignments (their ticket links name the records):
  // each side in the flow's lanes, the ServiceNow side timed apart.
  const width = (side: 'servicenow' | 'defender') =>
    lanes === 'oneLane' ? 1 : 'phases' in lanes ? (side === 'servicenow' ? lanes.phases : 1) : lanes[side];
  let failed = await sendAll(to, token, servicenow, width('servicenow'));
  const servicenowMs = performance.now() - started;
  failed += await sendAll(to, token, defender, width('defender'));
  const wallMs = performance.now() - started;
  return {
    wallMs,
    requests: servicenow.length + defender.length,
    failed,
    sameState: await sameState(from, to, options),
    servicenowMs,
    servicenowRequests: servicenow.length,
  };
}

/** What a replay or naive copy compares: ServiceNow tables and, optionally, Defender's governance assignments. */
export interface StateParts {
  readonly tables: readonly string[];
  readonly governanceAssignments?: boolean;
}

/** Defender's governance assignments, canonically dumped. */
async function assignmentDump(sandbox: SandboxProcess): Promise<{ id: string; properties: unknown }[]> {
  return (await sandbox.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments'))
    .governanceAssignments;
}

/**
 * Whether `to` dumps canonically equal to `from` in `parts`. Ticket links name an instance URL:
 * either sandbox's counts as the same (a replay sends the run's links unchanged, a naive copy
 * its own). The first difference goes to stderr (the bench log): a `false` must be explainable.
 */
async function sameState(from: SandboxProcess, to: SandboxProcess, parts: StateParts): Promise<boolean> {
  const urls = [from.ready.servicenow.url, to.ready.servicenow.url];
  const dump = async (sandbox: SandboxProcess) => {
    const servicenow = (await sandbox.control(
      'servicenow',
      'GET',
      `/_sandbox/dump?tables=${parts.tables.join(',')}`,
    )) as { tables: Record<string, unknown[]> };
    const records = new Map<string, string>();
    for (const [table, rows] of Object.entries(servicenow.tables))
      for (const row of rows) records.set(`${table} ${(row as { _key: string })._key}`, JSON.stringify(row));
    if (parts.governanceAssignments)
      for (const a of await assignmentDump(sandbox)) records.set(`assignment ${a.id}`, JSON.stringify(a));
    for (const [key, text] of records)
      records.set(
        key,
        urls.reduce((t, url) => t.replaceAll(url, '<servicenow>'), text),
      );
    return records;
  };
  const [a, b] = [await dump(from), await dump(to)];
  for (const [key, text] of a) {
    if (b.get(key) === text) continue;
    const table = key.split(' ')[0]!;
    const onlyInCopy = [...b.keys()].find((k) => k.startsWith(`${table} `) && !a.has(k));
    process.stderr.write(
      `sameState: ${a.size} records against ${b.size}; first difference at ${key}:\n  run:  ${text.slice(0, 600)}\n  copy: ${(b.get(key) ?? `absent${onlyInCopy ? `; the copy has ${(b.get(onlyInCopy) ?? '').slice(0, 600)}` : ''}`).slice(0, 1200)}\n`,
    );
    return false;
  }
  if (a.size !== b.size) {
    const extra = [...b.keys()].find((k) => !a.has(k));
    process.stderr.write(`sameState: the copy has ${b.size - a.size} more records, e.g. ${extra}\n`);
    return false;
  }
  return true;
}

/** ServiceNow tables ot-inventory writes, in an order where every reference points back. */
export const OT_INVENTORY_TABLES: readonly string[] = [
  'core_company',
  // The models ot-inventory creates (cmdb_model has no sys_class_name to find the class by).
  'cmdb_hardware_product_model',
  'cmdb_ci',
  'cmdb_ot_entity',
  'cmdb_key_value_v2',
  'sys_object_source',
  'cmdb_rel_ci',
  'sn_ot_device_network_connection',
];

/** Runs `use` on a sandbox process of its own for `size` (same seed as the measured one), stopped after. */
export async function withSandbox<T>(size: string, use: (sandbox: SandboxProcess) => Promise<T>): Promise<T> {
  const sandbox = await startSandboxProcess(size);
  try {
    return await use(sandbox);
  } finally {
    await sandbox.stop();
  }
}

/**
 * True while {@link measureWithRatios} measures runs whose naive client comes from the naive
 * sample instead: {@link naiveCopy} then sends nothing (at a latency, one Table API request per
 * record of the full sample would take hours).
 */
let naiveElsewhere = false;

/** A Snowline run's time with its replay floor and naive client (see replayFloor, naiveCopy). */
export interface RatioRuns {
  readonly snowlineMs: number;
  readonly replay: Awaited<ReturnType<typeof replayFloor>>;
  readonly naive: Awaited<ReturnType<typeof naiveCopy>>;
}

/**
 * Measures a flow on `size` with its replay floor and naive client ratios: `measure(size, true)`
 * must return them, `measure(size, false)` need not. Above `sample` devices (`large` is above any)
 * they come from a second run on `sample` devices, Snowline timed on that same sample, and are
 * labelled with it; `sample` 0 leaves them out. With latency the naive client comes from a run on
 * {@link BenchNetwork.naiveSample} devices (when smaller), labelled with it. Returns the run on
 * `size` and the `replay` and `naive` fields every flow result carries (bench/run.ts's table
 * prints them).
 */
export async function measureWithRatios<R extends { ratios?: RatioRuns | undefined }>(
  size: string,
  sample: number,
  measure: (size: string, withRatios: boolean) => Promise<R>,
): Promise<{ main: R; replay: Record<string, unknown> | null; naive: Record<string, unknown> | null }> {
  const devices = (n: string) => (n === 'demo' ? 0 : n === 'large' ? Infinity : Number(n));
  const sampled = sample > 0 && devices(size) > sample;
  const replaySample = sampled ? sample : devices(size);
  const naiveSample =
    network.latencyMs > 0 && network.naiveSample > 0 && network.naiveSample < replaySample
      ? network.naiveSample
      : null;
  naiveElsewhere = naiveSample !== null;
  let main: R;
  let ratios: RatioRuns | undefined;
  try {
    main = await measure(size, sample > 0 && !sampled);
    ratios = sampled ? (await measure(String(sample), true)).ratios : main.ratios;
  } finally {
    naiveElsewhere = false;
  }
  if (!ratios) return { main, replay: null, naive: null };
  const naiveRuns = naiveSample ? (await measure(String(naiveSample), true)).ratios! : ratios;
  const label = (n: number | null) => (n !== null ? `${n} devices` : null);
  const { replay } = ratios;
  return {
    main,
    replay: {
      sample: label(sampled ? sample : null),
      snowlineMs: Math.round(ratios.snowlineMs),
      replayMs: Math.round(replay.wallMs),
      requests: replay.requests,
      failed: replay.failed,
      sameState: replay.sameState,
      ratio: round(ratios.snowlineMs / replay.wallMs, 2),
    },
    naive: {
      sample: label(naiveSample ?? (sampled ? sample : null)),
      snowlineMs: Math.round(naiveRuns.snowlineMs),
      naiveMs: Math.round(naiveRuns.naive.wallMs),
      requests: naiveRuns.naive.requests,
      failed: naiveRuns.naive.failed,
      sameState: naiveRuns.naive.sameState,
      ...(naiveRuns.naive.servicenowMs !== undefined
        ? {
            servicenowMs: Math.round(naiveRuns.naive.servicenowMs),
            servicenowRequests: naiveRuns.naive.servicenowRequests,
          }
        : {}),
      ratio: round(naiveRuns.naive.wallMs / naiveRuns.snowlineMs, 2),
    },
  };
}
