import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import type { Flow } from '../../domain/flows.js';
import type { DashboardSnapshotTable, Database, LedgerEventRow, RunFlowRow, RunRow } from '../schema.js';

/*
 * The reads the dashboard's pages make of the store (across runs, flows and the ledger), and the
 * dashboard_snapshot table it alone writes. Every function takes one integration.
 */

/** What one flow did in a run, with when and why that run started. */
export type RunFlowWithRun = RunFlowRow & { readonly started_at: string; readonly trigger: string };

/** The flow's record in its latest real (not dry) run, if it ever ran for real. */
export async function lastRealRunOfFlow(
  db: Kysely<Database>,
  integrationId: string,
  flow: Flow,
): Promise<RunFlowWithRun | undefined> {
  return db
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
}

/** The `error` ledger events of these runs, oldest first, at most `limit`. */
export async function errorEventsOfRuns(
  db: Kysely<Database>,
  integrationId: string,
  runIds: readonly string[],
  limit: number,
): Promise<LedgerEventRow[]> {
  return db
    .selectFrom('ledger_event')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('run_id', 'in', runIds)
    .where('action', '=', 'error')
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** Filters of {@link searchRuns}; each one given narrows the result. */
export interface RunSearch {
  /** Only runs in which this flow took part. */
  readonly flow?: string;
  readonly status?: string;
  readonly dryRun?: boolean;
  /** At most this many runs (100 when omitted). */
  readonly limit?: number;
}

/** Runs of an integration matching the filters, newest first. */
export async function searchRuns(
  db: Kysely<Database>,
  integrationId: string,
  filter: RunSearch,
): Promise<RunRow[]> {
  let q = db.selectFrom('run').selectAll('run').where('run.integration_id', '=', integrationId);
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
  return q
    .orderBy('run.started_at', 'desc')
    .limit(filter.limit ?? 100)
    .execute();
}

/** Which flows took part in each of these runs, one row per run and flow, in no given order. */
export async function flowsOfRuns(
  db: Kysely<Database>,
  runIds: readonly string[],
): Promise<{ run_id: string; flow: string }[]> {
  return db.selectFrom('run_flow').select(['run_id', 'flow']).where('run_id', 'in', runIds).execute();
}

/** Filters of {@link runEventsPage}; each one given narrows the result. */
export interface RunEventFilter {
  readonly action?: string;
  readonly side?: string;
  readonly flow?: string;
  readonly entity?: string;
}

/** Ledger events of one run matching the filters, oldest first, at most `limit`, and how many matched in all. */
export async function runEventsPage(
  db: Kysely<Database>,
  integrationId: string,
  runId: string,
  filter: RunEventFilter,
  limit: number,
): Promise<{ events: LedgerEventRow[]; total: number }> {
  let q = db
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

/** A row of `dashboard_snapshot`: the counts (JSON) taken after one run. */
export type DashboardSnapshotRow = Selectable<DashboardSnapshotTable>;

/**
 * Records `counts` (stored as JSON) as the snapshot of the integration's latest finished real
 * run, unless that run has one already: one snapshot per run. Does nothing before the first
 * finished real run.
 */
export async function recordDashboardSnapshot(
  db: Kysely<Database>,
  clock: Clock,
  integrationId: string,
  counts: unknown,
): Promise<void> {
  const latest = await db
    .selectFrom('run')
    .select('id')
    .where('integration_id', '=', integrationId)
    .where('dry_run', '=', 0)
    .where('finished_at', 'is not', null)
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!latest) return;
  await db
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

/** The integration's last `limit` snapshots, oldest first. */
export async function latestDashboardSnapshots(
  db: Kysely<Database>,
  integrationId: string,
  limit: number,
): Promise<DashboardSnapshotRow[]> {
  const rows = await db
    .selectFrom('dashboard_snapshot')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .orderBy('taken_at', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse();
}
