/**
 * What the reliability suite shares: its size, the table of flows it covers, and the few
 * operations every scenario needs (a run in this process, a run as a killable `snowline sync`
 * process, a canonical state of both sides).
 *
 * A flow slots in by adding one entry to {@link FLOW_CASES}; every scenario then covers it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { LoadedConfig } from '../../src/config/load.js';
import type { Flow, FlowSummary } from '../../src/domain/flows.js';
import { alertCorrelationPrefix } from '../../src/domain/ot-alerts/alerts.js';
import { correlationPrefix } from '../../src/domain/tickets/rules.js';
import type { ServiceNowConnection } from '../../src/servicenow/index.js';
import { recordCommitsSoFar } from '../../src/store/kill-point.js';
import { signInPerson, writeCounts, type Sandboxes } from '../support/sandboxes.js';
import { syncOnce } from '../support/sync.js';

/**
 * Devices in the generated estate. `SNOWLINE_RELIABILITY_SIZE` chooses: `small` (the default, for
 * `npm test`), `large` (`npm run soak`: a few thousand devices, tens of thousands of records), or
 * a number of devices.
 */
export function reliabilityDevices(size = process.env.SNOWLINE_RELIABILITY_SIZE ?? 'small'): number {
  if (size === 'small') return 60;
  if (size === 'large') return 3000;
  const n = Number(size);
  if (!Number.isInteger(n) || n < 10) {
    throw new Error(
      `SNOWLINE_RELIABILITY_SIZE=${size} is not a size: use small, large or a number of devices (10 or more).`,
    );
  }
  return n;
}

/** How long one scenario may take: generous, as the large size runs many times more records. */
export const SCENARIO_TIMEOUT_MS = reliabilityDevices() > 500 ? 3_600_000 : 120_000;

/** ServiceNow tables that ot-inventory writes. */
const CMDB_TABLES = [
  'cmdb_ci',
  'cmdb_rel_ci',
  'cmdb_ot_entity',
  'cmdb_key_value_v2',
  'sys_object_source',
  'sn_ot_device_network_connection',
];

/** One flow as the suite exercises it. */
export interface FlowCase {
  readonly flow: Flow;
  /** What a suite calls the case when a flow has more than one (a file-name-safe word); else the flow. */
  readonly name?: string;
  /** Flows that must have run first (their output is this flow's input); not faulted, not killed. */
  readonly before: readonly Flow[];
  /** The `flows` section of the configuration, from the sandbox configuration's defaults. */
  flows(defaults: Record<string, unknown>): Record<string, unknown>;
  /** ServiceNow tables the flow writes, compared canonically. */
  readonly servicenowTables: readonly string[];
  /** True when the flow writes to Defender as well (governance assignments, or alerts). */
  readonly writesDefender: boolean;
  /**
   * What of Defender is compared when the flow writes there: governance assignments (the
   * default), or every OT alert's status, learned flag and close writes.
   */
  readonly defenderState?: 'assignments' | 'alerts';
  /**
   * What people do between the prerequisites and the flow (the flow's work when its input is
   * their changes); the same on every reset sandbox, so clean and faulted runs start alike.
   */
  prepare?(sandboxes: Sandboxes, loaded: LoadedConfig): Promise<void>;
  /**
   * Runs the storm of `faults.test.ts` may take to converge: 2 where every failed request is
   * retried within the run (the second only for a request that exhausted its five attempts, about
   * 2·10⁻⁵ a request in that storm); more where the flow leaves a failed write to its next run.
   */
  readonly stormRuns: number;
}

const otInventoryConfig = { source: 'console', sensorValidation: 'auto', batchSize: 25 };

/** Every flow on main, in dependency order. */
export const FLOW_CASES: readonly FlowCase[] = [
  {
    flow: 'ot-inventory',
    before: [],
    flows: () => ({ otInventory: otInventoryConfig }),
    servicenowTables: CMDB_TABLES,
    writesDefender: false,
    stormRuns: 2,
  },
  {
    flow: 'ot-vulnerabilities',
    before: ['ot-inventory'],
    flows: () => ({
      otInventory: otInventoryConfig,
      otVulnerabilities: { source: 'console', batchSize: 25 },
    }),
    servicenowTables: ['sn_vul_nvd_entry', 'sn_vul_detection', 'sn_vul_vulnerable_item'],
    writesDefender: false,
    // A Batch call answered 500 or reset is re-sent within the run (its inserts searched first).
    stormRuns: 2,
  },
  {
    flow: 'cloud-tickets',
    before: [],
    // Two tickets per Batch call: enough ServiceNow writes on the small estate to kill between
    // them, and a clean run long enough that a third of its requests passes a run's fixed reads.
    flows: (defaults) => ({ cloudTickets: { ...(defaults.cloudTickets as object), batchSize: 2 } }),
    servicenowTables: ['incident'],
    writesDefender: true,
    // A failed Batch call of ticket creates is re-sent after a search by correlation id.
    stormRuns: 2,
  },
  {
    flow: 'ticket-sync',
    before: ['cloud-tickets'],
    flows: (defaults) => ({
      cloudTickets: { ...(defaults.cloudTickets as object), batchSize: 2 },
      ticketSync: defaults.ticketSync,
    }),
    prepare: (sandboxes, loaded) => peopleChangeTickets(sandboxes, loaded),
    // The work notes on tickets whose new assignee has no email are in the journal.
    servicenowTables: ['incident', 'sys_journal_field'],
    writesDefender: true,
    // Its Defender PUTs and DELETEs and its work-note inserts are retried within the run.
    stormRuns: 2,
  },
  {
    flow: 'ot-alerts',
    before: ['ot-inventory'],
    // The sandbox configuration's alerts (Resource Graph), devices recognised in the console's
    // inventory: one incident per device and alert type, each created once by correlation id.
    flows: (defaults) => ({ otInventory: otInventoryConfig, otAlerts: defaults.otAlerts }),
    servicenowTables: ['incident'],
    writesDefender: false,
    // A create whose answer was lost is searched by correlation id before it is sent again.
    stormRuns: 2,
  },
];

/**
 * ot-alerts' other half, closing, for crash.test.ts: its prerequisites open the alert tickets
 * (ot-inventory, then ot-alerts itself); people then resolve some tickets and close some alerts
 * in Defender ({@link peopleCloseAlerts}); the flow closes (and learns) alerts in Defender through
 * ARM, notes and resolves tickets. Compared besides the tickets and their work notes: each
 * alert's status, learned flag and close writes, so that an alert closed twice, or a work note
 * written twice, differs from the clean run.
 */
export const OT_ALERTS_CLOSING_CASE: FlowCase = {
  flow: 'ot-alerts',
  name: 'ot-alerts-closing',
  before: ['ot-inventory', 'ot-alerts'],
  flows: (defaults) => ({ otInventory: otInventoryConfig, otAlerts: defaults.otAlerts }),
  prepare: (sandboxes, loaded) => peopleCloseAlerts(sandboxes, loaded),
  servicenowTables: ['incident', 'sys_journal_field'],
  writesDefender: true,
  defenderState: 'alerts',
  stormRuns: 2,
};

/** The prerequisites of a flow case and then what people change: the flow's input. */
export async function prepareCase(
  sandboxes: Sandboxes,
  flowCase: FlowCase,
  loaded: LoadedConfig,
): Promise<void> {
  if (flowCase.before.length > 0) await expectOk(syncInProcess(loaded, flowCase.before));
  await flowCase.prepare?.(sandboxes, loaded);
}

/** The person of the scenarios: a basic-auth itil user with an email, signed in as in the UI. */
function relPerson(sandboxes: Sandboxes, loaded: LoadedConfig): Promise<ServiceNowConnection> {
  return signInPerson(sandboxes, loaded.config.integrations[0]!.servicenow, {
    user_name: 'rel.person',
    password: 'Rel-person-pw-1',
    roles: ['itil'],
    email: 'rel.person@example.com',
  });
}

/**
 * People at work on the tickets cloud-tickets opened (a basic-auth itil user, as in the UI), in
 * correlation id order so that every reset sandbox gets the same changes: per five tickets, one
 * resolved, one reassigned and put In Progress, one reassigned, one reassigned to a user without
 * an email (ticket-sync notes that on the ticket), one left alone. ticket-sync then has Defender
 * deletes and PUTs to make, and ServiceNow work notes.
 */
async function peopleChangeTickets(sandboxes: Sandboxes, loaded: LoadedConfig): Promise<void> {
  await sandboxes.control('servicenow', 'POST', '/_sandbox/users', {
    user_name: 'rel.nomail',
    password: 'Rel-nomail-pw-1',
    roles: ['itil'],
  });
  const person = await relPerson(sandboxes, loaded);
  try {
    const users = async (query: string) =>
      (await person.client.listAll('sys_user', { query, fields: ['sys_id'] })).map((u) => u.sys_id);
    const [withEmail] = await users('user_name=rel.person');
    const [noEmail] = await users('user_name=rel.nomail');
    const tickets = (
      await person.client.listAll('incident', {
        query: `correlation_idSTARTSWITH${correlationPrefix(loaded.config.integrations[0]!.id)}`,
        fields: ['sys_id', 'correlation_id'],
      })
    ).sort((a, b) => String(a.correlation_id).localeCompare(String(b.correlation_id)));
    if (tickets.length < 5)
      throw new Error(`cloud-tickets opened ${tickets.length} incidents; 5 or more needed`);
    const changes: Record<string, unknown>[] = [
      { state: '6', close_code: 'Solution provided', close_notes: 'Fixed by hand.' },
      { assigned_to: withEmail!, state: '2' },
      { assigned_to: withEmail! },
      { assigned_to: noEmail! },
      {},
    ];
    for (const [n, ticket] of tickets.entries()) {
      const change = changes[n % changes.length]!;
      if (Object.keys(change).length > 0) await person.client.update('incident', ticket.sys_id, change);
    }
  } finally {
    await person.close();
  }
}

/**
 * People at work on the alert tickets ot-alerts opened, in correlation id order so that every
 * reset sandbox gets the same changes. The first ticket with several alerts gets its first alert
 * closed in Defender (the flow writes a work note: the others are still open); of the others, per
 * three tickets, one is resolved ("Solution provided": the flow closes its alerts in Defender),
 * one resolved as "Known error" (the flow learns them), and one has all its alerts closed in
 * Defender (the flow resolves the ticket). A ticket's alerts are the ones its description names
 * (`Defender alert: <ARM id>`).
 */
async function peopleCloseAlerts(sandboxes: Sandboxes, loaded: LoadedConfig): Promise<void> {
  const person = await relPerson(sandboxes, loaded);
  try {
    const alerts = (await sandboxes.control('defender', 'GET', '/_sandbox/alerts')) as {
      uuid: string;
      resourceId: string;
    }[];
    const uuidOf = new Map(alerts.map((a) => [a.resourceId.toLowerCase(), a.uuid]));
    const tickets = (
      await person.client.listAll('incident', {
        query: `correlation_idSTARTSWITH${alertCorrelationPrefix(loaded.config.integrations[0]!.id)}`,
        fields: ['sys_id', 'correlation_id', 'description'],
      })
    )
      .sort((a, b) => String(a.correlation_id).localeCompare(String(b.correlation_id)))
      .map((t) => ({
        sysId: t.sys_id,
        alerts: [...String(t.description).matchAll(/^Defender alert: (\S+)$/gm)].map((m) => {
          const uuid = uuidOf.get(m[1]!.toLowerCase());
          if (!uuid) throw new Error(`${t.correlation_id} names alert ${m[1]}, which Defender does not have`);
          return uuid;
        }),
      }));
    const noted = tickets.find((t) => t.alerts.length > 1);
    const others = tickets.filter((t) => t !== noted);
    if (!noted || others.length < 3)
      throw new Error(
        `ot-alerts opened ${tickets.length} incidents; 4 or more, one of them with several alerts, needed`,
      );
    const closeInDefender = async (uuids: readonly string[]) => {
      for (const uuid of uuids)
        await sandboxes.control('defender', 'POST', `/_sandbox/alerts/${uuid}/close`, {});
    };
    await closeInDefender(noted.alerts.slice(0, 1));
    const resolutions = [
      { state: '6', close_code: 'Solution provided', close_notes: 'Fixed on the PLC.' },
      { state: '6', close_code: 'Known error', close_notes: 'Expected traffic.' },
    ];
    for (const [n, ticket] of others.entries()) {
      const resolution = resolutions[n % 3];
      if (resolution) await person.client.update('incident', ticket.sysId, resolution);
      else await closeInDefender(ticket.alerts);
    }
  } finally {
    await person.close();
  }
}

/** How often a run commits what it records (`store.commitBatch`). */
export type CommitBatch = LoadedConfig['config']['store']['commitBatch'];

/**
 * The configuration of a flow case against these sandboxes, with its own store (and its own
 * `store.commitBatch` when given).
 */
export function caseConfig(
  sandboxes: Sandboxes,
  flowCase: FlowCase,
  storeUrl: string,
  commitBatch?: CommitBatch,
): LoadedConfig {
  const defaults = sandboxes.config(storeUrl).config.integrations[0]!.flows as Record<string, unknown>;
  const loaded = sandboxes.config(storeUrl, flowCase.flows(defaults));
  if (!commitBatch) return loaded;
  return { ...loaded, config: { ...loaded.config, store: { ...loaded.config.store, commitBatch } } };
}

/** Writes the configuration as `snowline sync --config` reads it. */
export function writeConfigFile(loaded: LoadedConfig, dir: string, name: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, stringify(loaded.config));
  return path;
}

/** The connected sensor (not learning) that a generated device says saw it, so it is not set aside. */
export function seeingSensor(sandboxes: Sandboxes) {
  const { estate } = sandboxes;
  const s = estate.sensors.find((x) => x.connected && !x.learningMode)!;
  const site = estate.sites[s.siteId - 1]!;
  return { id: s.id, name: s.name, zone: estate.zones[s.zoneId - 1]!.name, site };
}

/** Runs flows in this process, as `snowline sync --job` would, and returns their summaries. */
export async function syncInProcess(
  loaded: LoadedConfig,
  only: readonly Flow[],
): Promise<Partial<Record<Flow, FlowSummary>>> {
  return (await syncOnce(loaded, loaded.config.store.url, only)).summary.jobs;
}

/** What a `snowline sync` process did. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The signal that ended it (`SIGKILL` when killed, by the test or by its own kill point). */
  readonly signal: NodeJS.Signals | null;
  /** Whether the held request was seen before the kill (only when asked to kill). */
  readonly held?: boolean;
}

/**
 * Runs `snowline sync --job <flow> --json` (the built CLI) as its own process. With `killWhenHeld`,
 * waits until that sandbox holds a request unanswered (a committed write, or a read), then kills
 * the process -9: after a held write, the kill lands between the remote commit and the ledger
 * commit. `env` adds to the process's environment (a kill point of its own, for instance).
 */
export async function cliSync(
  sandboxes: Sandboxes,
  configPath: string,
  flow: Flow | 'all',
  options: { killWhenHeld?: 'servicenow' | 'defender'; logLevel?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  const child = spawn(
    process.execPath,
    [
      'dist/cli.js',
      '--config',
      configPath,
      '--log-level',
      options.logLevel ?? 'silent',
      'sync',
      '--job',
      flow,
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  let held: boolean | undefined;
  if (options.killWhenHeld) {
    held = false;
    let running = true;
    void exited.then(() => (running = false));
    // Bounded: a write that never comes (the process ended first) leaves the loop after 30 s at most.
    for (let i = 0; i < 1200 && !held && running; i++) {
      held = (await sandboxes.control(options.killWhenHeld, 'GET', '/_sandbox/faults')).held > 0;
      if (!held) await sleep(25);
    }
    child.kill('SIGKILL');
  }
  const { code, signal } = await exited;
  return { code, signal, stdout, stderr, ...(held === undefined ? {} : { held }) };
}

/** The two sides Snowline talks to, as the sandboxes' control API names them. */
export const SIDES = ['servicenow', 'defender'] as const;
export type Side = (typeof SIDES)[number];

/** Both sandboxes back to their seeded state: records, faults, rate limits, clocks of Defender. */
export async function resetSandboxes(sandboxes: Sandboxes): Promise<void> {
  await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
  await sandboxes.control('defender', 'POST', '/_sandbox/reset');
}

/**
 * The canonical state a flow leaves on both sides: the ServiceNow sandbox's canonical dump of the
 * tables it writes and, for flows that write to Defender, its governance assignments reduced to
 * what must not depend on timing (the assessment, the owner and the ticket they point at, by
 * the ticket's correlation id; random names, dates and ticket numbers left out).
 */
export async function canonicalState(sandboxes: Sandboxes, flowCase: FlowCase): Promise<CanonicalState> {
  const servicenow = (
    await sandboxes.control(
      'servicenow',
      'GET',
      `/_sandbox/dump?tables=${flowCase.servicenowTables.join(',')}`,
    )
  ).tables as Record<string, Record<string, string>[]>;
  for (const rows of Object.values(servicenow)) {
    for (const row of rows) {
      for (const f of WALL_CLOCK_FIELDS) delete row[f];
      // A sys_id inside a text value (a detection key names its CI's) differs per reset; the
      // reference fields already say which record it is.
      for (const [f, v] of Object.entries(row)) row[f] = v.replace(/\b[0-9a-f]{32}\b/g, '<sys_id>');
    }
  }
  if (!flowCase.writesDefender) return { servicenow, assignments: [], orphanAssignments: [] };
  if (flowCase.defenderState === 'alerts') {
    const alerts = (await sandboxes.control('defender', 'GET', '/_sandbox/alerts')) as {
      uuid: string;
      status: string;
      learned: boolean;
      closeWrites: number;
    }[];
    return {
      servicenow,
      assignments: [],
      orphanAssignments: [],
      alerts: alerts.map((a) => `${a.uuid}|${a.status}|learned ${a.learned}|closed ${a.closeWrites}×`).sort(),
    };
  }
  const tickets = (await sandboxes.control('servicenow', 'GET', '/_sandbox/dump?tables=incident&keep=sys_id'))
    .tables.incident as Record<string, string>[];
  const correlationOf = new Map(tickets.map((t) => [t.sys_id, t.correlation_id]));
  const assignments = (
    await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')
  ).governanceAssignments as GovernanceAssignment[];
  const canonical: string[] = [];
  const orphans: string[] = [];
  for (const a of assignments) {
    const assessment = a.id.replace(/\/governanceAssignments\/[^/]+$/, '');
    const link = a.properties.additionalData?.ticketLink ?? '';
    const sysId = /sys_id%3D([0-9a-f]{32})/.exec(link)?.[1];
    const ticket = sysId ? correlationOf.get(sysId) : undefined;
    if (!ticket) orphans.push(`${assessment} → ${link || 'no ticket link'}`);
    canonical.push(`${assessment}|${a.properties.owner ?? ''}|${ticket ?? 'missing'}`);
  }
  return { servicenow, assignments: canonical.sort(), orphanAssignments: orphans };
}

/**
 * Fields the sandbox fills from its clock when a record is written (the dump already leaves out
 * the platform's own); two runs a few seconds apart differ there and nowhere else.
 */
const WALL_CLOCK_FIELDS = ['first_found', 'last_found'];

interface GovernanceAssignment {
  id: string;
  properties: { owner?: string; additionalData?: { ticketLink?: string } };
}

/** See {@link canonicalState}. */
export interface CanonicalState {
  readonly servicenow: Record<string, Record<string, string>[]>;
  readonly assignments: readonly string[];
  /** Assignments whose ticket link points at no ticket: must always be empty. */
  readonly orphanAssignments: readonly string[];
  /** With `defenderState: 'alerts'`: each alert's status, learned flag and close writes. */
  readonly alerts?: readonly string[];
}

/** Keys that occur more than once in a table of the dump: duplicates, which must never exist. */
export function duplicateKeys(state: CanonicalState): string[] {
  const out: string[] = [];
  for (const rows of Object.values(state.servicenow)) {
    const seen = new Set<string>();
    for (const row of rows) {
      if (seen.has(row._key!)) out.push(row._key!);
      seen.add(row._key!);
    }
  }
  const assignments = new Set<string>();
  for (const a of state.assignments) {
    const assessment = a.split('|')[0]!;
    if (assignments.has(assessment)) out.push(`assignment ${assessment}`);
    assignments.add(assessment);
  }
  return out;
}

/**
 * A clean run of a flow case on reset sandboxes: its prerequisites, then the flow itself; returns
 * the state it reached and how many writes the flow itself made on each side.
 */
export async function cleanRun(
  sandboxes: Sandboxes,
  flowCase: FlowCase,
  storeUrl: string,
  commitBatch?: CommitBatch,
): Promise<{
  state: CanonicalState;
  writes: { servicenow: number; defender: number };
  /** Reads the flow itself made on each side, as the sandboxes count them for `holdRead`. */
  reads: { servicenow: number; defender: number };
  /** Record commits the flow itself made (the store's kill point counts them). */
  commits: number;
  /** Outer ServiceNow requests of the flow itself (its prerequisites not counted). */
  servicenowRequests: number;
  /** ServiceNow requests of an unchanged re-run: the reads every run makes before it can write. */
  noopServicenowRequests: number;
}> {
  await resetSandboxes(sandboxes);
  const loaded = caseConfig(sandboxes, flowCase, storeUrl, commitBatch);
  await prepareCase(sandboxes, flowCase, loaded);
  const requests = async () =>
    (await sandboxes.control('servicenow', 'GET', '/_sandbox/stats')).total as number;
  // Setting faults (none) starts the sandboxes' count of reads and writes from zero.
  for (const side of SIDES) await sandboxes.control(side, 'POST', '/_sandbox/faults', {});
  const before = await writeCounts(sandboxes);
  const requestsBefore = await requests();
  const commitsBefore = recordCommitsSoFar();
  await expectOk(syncInProcess(loaded, [flowCase.flow]));
  const commits = recordCommitsSoFar() - commitsBefore;
  const [snFaults, defenderFaults] = await Promise.all(
    SIDES.map((side) => sandboxes.control(side, 'GET', '/_sandbox/faults')),
  );
  const after = await writeCounts(sandboxes);
  const requestsAfter = await requests();
  const state = await canonicalState(sandboxes, flowCase);
  await expectOk(syncInProcess(loaded, [flowCase.flow]));
  return {
    servicenowRequests: requestsAfter - requestsBefore,
    noopServicenowRequests: (await requests()) - requestsAfter,
    state,
    writes: { servicenow: after.servicenow - before.servicenow, defender: after.defender - before.defender },
    reads: { servicenow: snFaults.readsSeen, defender: defenderFaults.readsSeen },
    commits,
  };
}

/** Throws with the summaries when a flow did not end `ok`. */
export async function expectOk(
  run: Promise<Partial<Record<Flow, FlowSummary>>>,
): Promise<Partial<Record<Flow, FlowSummary>>> {
  const jobs = await run;
  for (const [flow, summary] of Object.entries(jobs)) {
    if (summary.outcome !== 'ok') {
      throw new Error(`${flow} ended ${summary.outcome}: ${JSON.stringify(summary).slice(0, 1000)}`);
    }
  }
  return jobs;
}
