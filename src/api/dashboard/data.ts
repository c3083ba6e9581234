import { detectionSourceOf } from '../../sync/ot-vulnerabilities/config.js';
import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { FLOWS, type Flow } from '../../domain/flows.js';
import { correlationPrefix } from '../../domain/tickets/rules.js';
import { TICKET_TABLES, closedStatesOf, stateLabel } from '../../domain/tickets/tables.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { connectServiceNow, type ServiceNowClient } from '../../servicenow/index.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import type { SnRecord } from '../../servicenow/values.js';
import {
  errorEventsOfRuns,
  flowsOfRuns,
  lastRealRunOfFlow,
  latestDashboardSnapshots,
  recordDashboardSnapshot,
  runEventsPage,
  searchRuns,
  type RunEventFilter,
  type RunFlowWithRun,
  type RunSearch,
} from '../../store/models/dashboard.js';
import { listEntityStates } from '../../store/models/entity-state.js';
import { linksOfIntegration } from '../../store/models/links.js';
import type { EntityStateRow, LedgerEventRow, LinkRow, RunRow } from '../../store/schema.js';
import type { Store } from '../../store/store.js';

/*
 * What the dashboard shows, read from the store (runs, ledger, entity state, links: what Snowline
 * did and remembers) and from the ServiceNow instance (what is there now: Purdue levels, sensor
 * states, vulnerable items, ticket states). Reads only; every function takes one integration.
 */

/** The flow counters a page shows for one flow of one run. */
export type FlowRun = RunFlowWithRun;

/** The last real (not dry) run of each flow. */
export async function lastRunPerFlow(store: Store, integrationId: string): Promise<Map<Flow, FlowRun>> {
  const found = new Map<Flow, FlowRun>();
  for (const flow of FLOWS) {
    const row = await lastRealRunOfFlow(store.db, integrationId, flow);
    if (row) found.set(flow, row);
  }
  return found;
}

/** One thing a person should look at: a failed flow, or an error decision of the last runs. */
export interface Attention {
  readonly flow: string;
  readonly runId: string | null;
  readonly what: string;
  readonly at: string;
}

/** Failed flows and the error decisions of the last real run of each flow. */
export async function needsAttention(
  store: Store,
  integrationId: string,
  lastRuns: ReadonlyMap<Flow, FlowRun>,
  limit = 50,
): Promise<Attention[]> {
  const items: Attention[] = [];
  for (const [flow, run] of lastRuns) {
    if (run.outcome === 'failed') {
      const extra = run.extra ? (JSON.parse(run.extra) as { error?: string }) : {};
      items.push({
        flow,
        runId: run.run_id,
        what: `flow failed: ${extra.error ?? 'see the logs'}`,
        at: run.started_at,
      });
    }
    if (run.outcome === 'deferred' && run.retry_at) {
      items.push({
        flow,
        runId: run.run_id,
        what: `deferred by a rate limit until ${run.retry_at}`,
        at: run.started_at,
      });
    }
  }
  const runIds = [...lastRuns.values()].map((r) => r.run_id);
  if (runIds.length) {
    const errors = await errorEventsOfRuns(store.db, integrationId, runIds, limit);
    for (const e of errors) {
      items.push({
        flow: e.flow,
        runId: e.run_id,
        what: `${e.entity} ${e.entity_key}: ${e.reason}`,
        at: e.at,
      });
    }
  }
  return items;
}

/** Runs, newest first, filtered. */
export async function findRuns(
  store: Store,
  integrationId: string,
  filter: RunSearch,
): Promise<(RunRow & { flows: string })[]> {
  const runs = await searchRuns(store.db, integrationId, filter);
  if (runs.length === 0) return [];
  const flows = await flowsOfRuns(
    store.db,
    runs.map((r) => r.id),
  );
  return runs.map((run) => ({
    ...run,
    flows: flows
      .filter((f) => f.run_id === run.id)
      .map((f) => f.flow)
      .sort((a, b) => FLOWS.indexOf(a as Flow) - FLOWS.indexOf(b as Flow))
      .join(', '),
  }));
}

/** Ledger events of one run, filtered, oldest first, with how many matched in all. */
export async function runEvents(
  store: Store,
  integrationId: string,
  runId: string,
  filter: RunEventFilter,
  limit = 1000,
): Promise<{ events: LedgerEventRow[]; total: number }> {
  return runEventsPage(store.db, integrationId, runId, filter, limit);
}

/** Entity states of one kind, in key order (the inventory, the tickets). */
export async function entityStates(
  store: Store,
  integrationId: string,
  flow: Flow,
  entity: string,
): Promise<EntityStateRow[]> {
  return listEntityStates(store.db, { integrationId, flow, entity });
}

/** Every link of an integration. */
export async function allLinks(store: Store, integrationId: string): Promise<LinkRow[]> {
  return linksOfIntegration(store.db, integrationId);
}

/** JSON text → value; undefined when absent or not JSON (a page never fails on one bad row). */
export function parseData<T>(text: string | null): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- the instance, now

/**
 * Runs `fn` with a ServiceNow client of the integration, built from its configuration (TLS, CA,
 * auth) and closed afterwards, so the dashboard holds no connection between page views.
 */
export async function withServiceNow<T>(
  integration: IntegrationConfig,
  clock: Clock,
  fn: (client: ServiceNowClient) => Promise<T>,
): Promise<T> {
  const connection = connectServiceNow(integration.servicenow, { clock, counters: new RequestCounters() });
  try {
    return await fn(connection.client);
  } finally {
    await connection.close();
  }
}

/** A field of a record read with display values `all`: its value and what a person reads. */
export function field(record: SnRecord, name: string): { value: string; display: string } {
  const raw = record[name];
  if (raw && typeof raw === 'object') {
    const r = raw as { value?: unknown; display_value?: unknown };
    const value = typeof r.value === 'string' ? r.value : '';
    const display = typeof r.display_value === 'string' && r.display_value !== '' ? r.display_value : value;
    return { value, display };
  }
  const text = typeof raw === 'string' ? raw : '';
  return { value: text, display: text };
}

/** Vulnerable item state Closed (Vulnerability Response). */
export const ITEM_CLOSED_STATE = '3';

/** Ticket impact (which Snowline sets from the recommendation's severity) → its severity label. */
export const IMPACT_SEVERITY: Readonly<Record<string, string>> = { '1': 'High', '2': 'Medium', '3': 'Low' };

/** What the overview counts on the instance now, and what a snapshot keeps. */
export interface LiveCounts {
  /** Open vulnerable items from Snowline's detection source, by severity label. */
  readonly openVulnerableItems: Record<string, number>;
  /** Open tickets Snowline opened (its correlation ids), by severity (from their impact). */
  readonly openTickets: Record<string, number>;
}

const ITEM_SEVERITY: Readonly<Record<string, string>> = {
  '1': 'Critical',
  '2': 'High',
  '3': 'Medium',
  '4': 'Low',
  '5': 'None',
};

function relabel(groups: number | Map<string, number>, labels: Readonly<Record<string, string>>) {
  const out: Record<string, number> = {};
  if (typeof groups === 'number') return out;
  for (const [key, count] of groups) {
    const label = labels[key] ?? (key === '' ? 'unset' : key);
    out[label] = (out[label] ?? 0) + count;
  }
  return out;
}

/**
 * Counts on the instance through the Aggregate API: open vulnerable items of Snowline's source by
 * severity, and open tickets carrying Snowline's correlation prefix by severity.
 */
export async function liveCounts(
  client: ServiceNowClient,
  integration: IntegrationConfig,
): Promise<LiveCounts> {
  const openVulnerableItems = integration.flows.otVulnerabilities
    ? relabel(
        await client.count('sn_vul_vulnerable_item', {
          query: encodeQuery({
            where: [
              where('source', '=', detectionSourceOf(integration.flows.otVulnerabilities)),
              where('state', '!=', ITEM_CLOSED_STATE),
            ],
          }),
          groupBy: ['severity'],
        }),
        ITEM_SEVERITY,
      )
    : {};
  const openTickets: Record<string, number> = {};
  if (integration.flows.cloudTickets) {
    const closedStates = closedStatesOf(integration.flows.ticketSync?.closedStates);
    for (const table of TICKET_TABLES) {
      const counts = relabel(
        await client.count(table, {
          query: encodeQuery({
            where: [
              where('correlation_id', 'STARTSWITH', correlationPrefix(integration.id)),
              where('state', 'NOT IN', closedStates[table]),
            ],
          }),
          groupBy: ['impact'],
        }),
        IMPACT_SEVERITY,
      );
      for (const [label, n] of Object.entries(counts)) openTickets[label] = (openTickets[label] ?? 0) + n;
    }
  }
  return { openVulnerableItems, openTickets };
}

/** A snapshot of the counts after one run. */
export interface Snapshot extends LiveCounts {
  readonly runId: string;
  readonly takenAt: string;
}

/**
 * Records the counts for the latest finished real run if it has none yet (one snapshot per run,
 * so the chart has a point per run that a person looked at or the dashboard started).
 */
export async function recordSnapshot(
  store: Store,
  clock: Clock,
  integrationId: string,
  counts: LiveCounts,
): Promise<void> {
  await recordDashboardSnapshot(store.db, clock, integrationId, counts);
}

/** The last `limit` snapshots, oldest first. */
export async function snapshots(store: Store, integrationId: string, limit = 60): Promise<Snapshot[]> {
  const rows = await latestDashboardSnapshots(store.db, integrationId, limit);
  return rows.map((r) => ({
    runId: r.run_id,
    takenAt: r.taken_at,
    ...(parseData<LiveCounts>(r.data) ?? emptyCounts()),
  }));
}

function emptyCounts(): LiveCounts {
  return { openVulnerableItems: {}, openTickets: {} };
}

/** Reads records by sys_id, 100 per request (encoded queries stay short). */
export async function recordsById(
  client: ServiceNowClient,
  table: string,
  sysIds: readonly string[],
  fields: readonly string[],
): Promise<Map<string, SnRecord>> {
  const found = new Map<string, SnRecord>();
  const unique = [...new Set(sysIds)];
  for (let i = 0; i < unique.length; i += 100) {
    const chunk = unique.slice(i, i + 100);
    const rows = await client.listAll(table, {
      query: encodeQuery({ where: [where('sys_id', 'IN', chunk)] }),
      fields: ['sys_id', ...fields],
      displayValue: 'all',
    });
    for (const row of rows) found.set(field(row, 'sys_id').value, row);
  }
  return found;
}

/** Records whose `name` field starts with `prefix` (Snowline's namespaced keys), display values `all`. */
export async function recordsByPrefix(
  client: ServiceNowClient,
  table: string,
  name: string,
  prefix: string,
  fields: readonly string[],
): Promise<SnRecord[]> {
  return client.listAll(table, {
    query: encodeQuery({ where: [where(name, 'STARTSWITH', prefix)] }),
    fields: ['sys_id', ...fields],
    displayValue: 'all',
  });
}

/** The state label of a ticket as Snowline last wrote it to Defender (`ticketStatus`). */
export { stateLabel };
