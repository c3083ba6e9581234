import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { FLOWS, type Flow } from '../../domain/flows.js';
import { correlationPrefix } from '../../domain/tickets/rules.js';
import { TICKET_TABLES, closedStatesOf, stateLabel } from '../../domain/tickets/tables.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { connectServiceNow, type ServiceNowClient } from '../../servicenow/index.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import type { SnRecord } from '../../servicenow/values.js';
import type { EntityStateRow, LedgerEventRow, LinkRow, RunFlowRow, RunRow } from '../../store/schema.js';
import type { Store } from '../../store/store.js';

/*
 * What the dashboard shows, read from the store (runs, ledger, entity state, links: what Snowline
 * did and remembers) and from the ServiceNow instance (what is there now: Purdue levels, sensor
 * states, vulnerable items, ticket states). Reads only; every function takes one integration.
 */

/** The flow counters a page shows for one flow of one run. */
export type FlowRun = RunFlowRow & { readonly started_at: string; readonly trigger: string };

/** The last real (not dry) run of each flow. */
export async function lastRunPerFlow(store: Store, integrationId: string): Promise<Map<Flow, FlowRun>> {
  const found = new Map<Flow, FlowRun>();
  for (const flow of FLOWS) {
    const row = await store.db
      .selectFrom('run_flow')
      .innerJoin('run', 'run.id', 'run_flow.run_id')
      .selectAll('run_flow')
      .select(['run.started_at', 'run.trigger'])
      .where('run_flow.integration_id', '=', integrationId)
      .where('run_flow.flow', '=', flow)
      .where('run.dry_run', '=', 0)
      .orderBy('run.started_at', 'desc')
      .limit(1)
      .executeTakeFirst();
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
    const errors = await store.db
      .selectFrom('ledger_event')
      .selectAll()
      .where('integration_id', '=', integrationId)
      .where('run_id', 'in', runIds)
      .where('action', '=', 'error')
      .orderBy('id')
      .limit(limit)
      .execute();
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
  filter: { flow?: string; status?: string; dryRun?: boolean; limit?: number },
): Promise<(RunRow & { flows: string })[]> {
  let q = store.db.selectFrom('run').selectAll('run').where('run.integration_id', '=', integrationId);
  if (filter.status) q = q.where('run.status', '=', filter.status);
  if (filter.dryRun !== undefined) q = q.where('run.dry_run', '=', filter.dryRun ? 1 : 0);
  if (filter.flow) {
    const flow = filter.flow;
    q = q.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('run_flow')
          .select('run_flow.run_id')
          .whereRef('run_flow.run_id', '=', 'run.id')
          .where('run_flow.flow', '=', flow),
      ),
    );
  }
  const runs = await q
    .orderBy('run.started_at', 'desc')
    .limit(filter.limit ?? 100)
    .execute();
  if (runs.length === 0) return [];
  const flows = await store.db
    .selectFrom('run_flow')
    .select(['run_id', 'flow'])
    .where(
      'run_id',
      'in',
      runs.map((r) => r.id),
    )
    .execute();
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
  filter: { action?: string; side?: string; flow?: string; entity?: string },
  limit = 1000,
): Promise<{ events: LedgerEventRow[]; total: number }> {
  let q = store.db
    .selectFrom('ledger_event')
    .where('integration_id', '=', integrationId)
    .where('run_id', '=', runId);
  if (filter.action) q = q.where('action', '=', filter.action);
  if (filter.side) q = q.where('side', '=', filter.side);
  if (filter.flow) q = q.where('flow', '=', filter.flow);
  if (filter.entity) q = q.where('entity', '=', filter.entity);
  const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
  const events = await q.selectAll().orderBy('id').limit(limit).execute();
  return { events, total: Number(total?.n ?? 0) };
}

/** Entity states of one kind, in key order (the inventory, the tickets). */
export async function entityStates(
  store: Store,
  integrationId: string,
  flow: Flow,
  entity: string,
): Promise<EntityStateRow[]> {
  return store.db
    .selectFrom('entity_state')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('flow', '=', flow)
    .where('entity', '=', entity)
    .orderBy('source_key')
    .execute();
}

/** Every link of an integration. */
export async function allLinks(store: Store, integrationId: string): Promise<LinkRow[]> {
  return store.db.selectFrom('link').selectAll().where('integration_id', '=', integrationId).execute();
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
              where('source', '=', integration.flows.otVulnerabilities.sourceName),
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
  const latest = await store.db
    .selectFrom('run')
    .select('id')
    .where('integration_id', '=', integrationId)
    .where('dry_run', '=', 0)
    .where('finished_at', 'is not', null)
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!latest) return;
  await store.db
    .insertInto('dashboard_snapshot')
    .values({
      integration_id: integrationId,
      run_id: latest.id,
      taken_at: clock.now().toISOString(),
      data: JSON.stringify(counts),
    })
    .onConflict((oc) => oc.columns(['integration_id', 'run_id']).doNothing())
    .execute();
}

/** The last `limit` snapshots, oldest first. */
export async function snapshots(store: Store, integrationId: string, limit = 60): Promise<Snapshot[]> {
  const rows = await store.db
    .selectFrom('dashboard_snapshot')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .orderBy('taken_at', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map((r) => ({
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
