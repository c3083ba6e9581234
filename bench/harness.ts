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

/** Command line of a per-flow script: `--size demo|large|N`, `--json`, plus the script's own options. */
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
      ...options,
    },
  });
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

/** Starts `dist/sandbox/main.js` for a dataset size or a number of devices. */
export async function startSandboxProcess(size: string, seed = 1): Promise<SandboxProcess> {
  const args = size === 'large' || size === 'demo' ? ['--dataset', size] : ['--devices', size];
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
  const { loaded } = sandboxConfig(ready, { storeUrl: join(dir, 'bench.sqlite'), integrationId: 'bench' });
  const raw = structuredClone(loaded.config) as { integrations: { flows: unknown }[] };
  raw.integrations[0]!.flows = flows;
  const path = join(dir, 'bench.yaml');
  writeFileSync(path, stringify(raw));
  return path;
}

/** Runs `snowline sync --job <flow> --json` and samples its peak RSS (VmHWM) until it exits. */
export async function timedSync(
  configPath: string,
  flow: string,
): Promise<{ wallMs: number; peakRssMb: number; summary: Record<string, any> }> {
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

/** ServiceNow sandbox counters: outer requests and writes, and IRE requests. */
export async function serviceNowCounters(
  sandbox: SandboxProcess,
): Promise<{ requests: number; writes: number; ire: number }> {
  const stats = await sandbox.control('servicenow', 'GET', '/_sandbox/stats');
  return { requests: stats.total, writes: stats.writes, ire: stats.byApi.ire?.POST ?? 0 };
}

/** One journaled request (see sandbox/common/journal.ts). */
export interface JournalEntry {
  readonly method: string;
  readonly path: string;
  readonly body?: string;
}

/** Switches both sandboxes' request journals on (empty) or off. */
export async function journal(sandbox: SandboxProcess, enabled: boolean): Promise<void> {
  await sandbox.control('servicenow', 'POST', '/_sandbox/journal', { enabled });
  await sandbox.control('defender', 'POST', '/_sandbox/journal', { enabled });
}

/** What both sandboxes journaled. */
export async function journaled(
  sandbox: SandboxProcess,
): Promise<{ servicenow: JournalEntry[]; defender: JournalEntry[] }> {
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

/** Sends requests in order with `concurrency` in flight; returns how many answered 4xx/5xx. */
export async function sendAll(
  base: string,
  agent: Agent,
  entries: readonly JournalEntry[],
  concurrency: number,
  authorization: (path: string) => string,
): Promise<number> {
  let next = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < entries.length) {
      const entry = entries[next++]!;
      const response = await request(`${base}${entry.path}`, {
        method: entry.method as 'GET',
        dispatcher: agent,
        headers: {
          authorization: authorization(entry.path),
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
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return failed;
}

/**
 * The replay floor: the journaled requests sent again by a minimal client against a fresh
 * sandbox, ServiceNow's with the flow's concurrency and Defender's reads alongside on one lane,
 * both through an agent like Snowline's. OAuth token requests are replaced by one token fetched
 * before the clock starts (Snowline fetches its own inside its timed run).
 */
export async function replayFloor(
  fresh: SandboxProcess,
  requests: { servicenow: JournalEntry[]; defender: JournalEntry[] },
  concurrency: number,
): Promise<{ wallMs: number; requests: number; failed: number }> {
  const servicenow = requests.servicenow.filter((r) => r.path !== '/oauth_token.do');
  const defender = requests.defender.filter((r) => !/\/oauth2\//.test(r.path));
  const token = await serviceNowToken(fresh);
  const started = performance.now();
  const failed = await Promise.all([
    sendAll(fresh.ready.servicenow.url, fresh.agent, servicenow, concurrency, () => `Bearer ${token}`),
    sendAll(fresh.ready.defender.url, fresh.agent, defender, 1, (path) =>
      defenderAuthorization(fresh.ready, path),
    ),
  ]);
  return {
    wallMs: performance.now() - started,
    requests: servicenow.length + defender.length,
    failed: failed[0]! + failed[1]!,
  };
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

/**
 * The naive client: the final state a flow reached on `from`, written to the fresh sandbox `to`
 * with one Table API request per record (same agent, `concurrency` in flight), in `tables`
 * order so references resolve. Its time is what an integration without IRE or Batch pays for the
 * same result; it is a lower bound (a real one would also search before each create). Returns
 * its wall time and whether `to` then dumps canonically equal to `from`.
 */
export async function naiveCopy(
  from: SandboxProcess,
  to: SandboxProcess,
  tables: readonly string[],
  concurrency: number,
): Promise<{ wallMs: number; requests: number; failed: number; sameState: boolean }> {
  const [fromToken, toToken] = await Promise.all([serviceNowToken(from), serviceNowToken(to)]);
  // Relationship types are seeded per sandbox: map them by name.
  const types = async (sandbox: SandboxProcess, token: string) =>
    new Map((await readAll(sandbox, token, 'cmdb_rel_type')).map((t) => [t.name, t.sys_id]));
  const fromTypes = await types(from, fromToken);
  const toTypes = await types(to, toToken);
  const typeIds = new Map([...fromTypes].map(([name, id]) => [id, toTypes.get(name) ?? id]));

  const seen = new Set<string>();
  const entries: JournalEntry[] = [];
  for (const table of tables) {
    for (const record of await readAll(from, fromToken, table)) {
      if (seen.has(record.sys_id!)) continue;
      seen.add(record.sys_id!);
      const values = Object.fromEntries(
        Object.entries(record)
          .filter(([k, v]) => !PLATFORM_FIELDS.has(k) && v !== '')
          .map(([k, v]) => [k, k === 'type' && typeIds.has(v) ? typeIds.get(v)! : v]),
      );
      entries.push({
        method: 'POST',
        path: `/api/now/table/${record.sys_class_name}`,
        body: JSON.stringify(values),
      });
    }
  }
  const started = performance.now();
  const failed = await sendAll(
    to.ready.servicenow.url,
    to.agent,
    entries,
    concurrency,
    () => `Bearer ${toToken}`,
  );
  const wallMs = performance.now() - started;
  const dump = async (sandbox: SandboxProcess) =>
    JSON.stringify(await sandbox.control('servicenow', 'GET', `/_sandbox/dump?tables=${tables.join(',')}`));
  return { wallMs, requests: entries.length, failed, sameState: (await dump(from)) === (await dump(to)) };
}
