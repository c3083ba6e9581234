import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import type { Flow, FlowSummary, RunOutcome, SyncSummary } from '../../domain/flows.js';
import { NotFoundError } from '../../errors.js';
import type { Database, RunFlowRow, RunRow } from '../schema.js';

/** How a run was started. */
export type RunTrigger = 'cli' | 'schedule' | 'api' | 'demo' | 'webhook' | 'resume';

/** Records the start of a run and returns its id. */
export async function startRun(
  db: Kysely<Database>,
  clock: Clock,
  run: { integrationId: string; trigger: RunTrigger; dryRun: boolean; worker?: string; id?: string },
): Promise<string> {
  const id = run.id ?? randomUUID();
  await db
    .insertInto('run')
    .values({
      id,
      integration_id: run.integrationId,
      trigger: run.trigger,
      dry_run: run.dryRun ? 1 : 0,
      status: 'running',
      started_at: clock.now().toISOString(),
      finished_at: null,
      retry_at: null,
      summary: null,
      error: null,
      worker: run.worker ?? null,
    })
    .execute();
  return id;
}

const COUNTERS = [
  'created',
  'updated',
  'unchanged',
  'retired',
  'resolved',
  'deleted',
  'errors',
  'retries',
] as const;

/** Records what one flow did in a run (replacing an earlier record for the same run and flow). */
export async function recordFlowSummary(
  db: Kysely<Database>,
  run: { runId: string; integrationId: string },
  flow: Flow,
  summary: FlowSummary,
): Promise<void> {
  const extra = Object.fromEntries(
    Object.entries(summary).filter(
      ([k]) =>
        !(COUNTERS as readonly string[]).includes(k) &&
        !['outcome', 'retryAt', 'requests', 'durationMs'].includes(k),
    ),
  );
  const row = {
    run_id: run.runId,
    integration_id: run.integrationId,
    flow,
    outcome: summary.outcome,
    created: summary.created,
    updated: summary.updated,
    unchanged: summary.unchanged,
    retired: summary.retired,
    resolved: summary.resolved,
    deleted: summary.deleted,
    errors: summary.errors,
    retries: summary.retries,
    requests_servicenow: summary.requests.servicenow,
    requests_defender: summary.requests.defender,
    duration_ms: Math.round(summary.durationMs),
    retry_at: summary.retryAt,
    extra: Object.keys(extra).length ? JSON.stringify(extra) : null,
  };
  const { run_id: _runId, flow: _flow, ...update } = row;
  await db
    .insertInto('run_flow')
    .values(row)
    .onConflict((oc) => oc.columns(['run_id', 'flow']).doUpdateSet(update))
    .execute();
}

/** The outcome of a whole run from its flows: failed beats deferred beats ok. */
export function overallOutcome(summaries: readonly FlowSummary[]): RunOutcome {
  if (summaries.some((s) => s.outcome === 'failed')) return 'failed';
  if (summaries.some((s) => s.outcome === 'deferred')) return 'deferred';
  return 'ok';
}

/** Records the end of a run with its summary. */
export async function finishRun(
  db: Kysely<Database>,
  clock: Clock,
  runId: string,
  result: { summary: SyncSummary; error?: string | null },
): Promise<RunOutcome> {
  const flows = Object.values(result.summary.jobs).filter((s): s is FlowSummary => s !== undefined);
  const outcome = result.error ? 'failed' : overallOutcome(flows);
  const retryAt =
    flows
      .map((s) => s.retryAt)
      .filter((r): r is string => r !== null)
      .sort()[0] ?? null;
  await db
    .updateTable('run')
    .set({
      status: outcome,
      finished_at: clock.now().toISOString(),
      retry_at: retryAt,
      summary: JSON.stringify(result.summary),
      error: result.error ?? null,
    })
    .where('id', '=', runId)
    .execute();
  return outcome;
}

/** A run with its per-flow records. */
export interface RunWithFlows extends RunRow {
  readonly flows: RunFlowRow[];
}

/** One run by id, with its flows. */
export async function getRun(
  db: Kysely<Database>,
  integrationId: string,
  runId: string,
): Promise<RunWithFlows> {
  const run = await db
    .selectFrom('run')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .where('id', '=', runId)
    .executeTakeFirst();
  if (!run) throw new NotFoundError(`no run ${runId} for integration ${integrationId}`);
  const flows = await db
    .selectFrom('run_flow')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy('flow')
    .execute();
  return { ...run, flows };
}

/** The latest runs of an integration, newest first. */
export async function listRuns(db: Kysely<Database>, integrationId: string, limit = 50): Promise<RunRow[]> {
  return db
    .selectFrom('run')
    .selectAll()
    .where('integration_id', '=', integrationId)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
