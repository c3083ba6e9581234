import { z } from 'zod';
import type { LedgerEventRow, RunFlowRow, RunRow } from '../../store/schema.js';

/** A run as the API shows it. */
export function runView(row: RunRow) {
  return {
    id: row.id,
    integration: row.integration_id,
    trigger: row.trigger,
    dryRun: row.dry_run === 1,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    retryAt: row.retry_at,
    error: row.error,
    worker: row.worker,
    summary: row.summary ? (JSON.parse(row.summary) as unknown) : null,
  };
}

/** What one flow did in a run, as the API shows it. */
export function runFlowView(row: RunFlowRow) {
  return {
    flow: row.flow,
    outcome: row.outcome,
    created: row.created,
    updated: row.updated,
    unchanged: row.unchanged,
    retired: row.retired,
    resolved: row.resolved,
    deleted: row.deleted,
    errors: row.errors,
    retries: row.retries,
    requests: { servicenow: row.requests_servicenow, defender: row.requests_defender },
    durationMs: row.duration_ms,
    retryAt: row.retry_at,
    extra: row.extra ? (JSON.parse(row.extra) as unknown) : null,
  };
}

/** A ledger event as the API shows it. */
export function ledgerEventView(row: LedgerEventRow) {
  return {
    id: Number(row.id),
    runId: row.run_id,
    flow: row.flow,
    side: row.side,
    action: row.action,
    entity: row.entity,
    key: row.entity_key,
    remoteId: row.remote_id,
    reason: row.reason,
    worker: row.worker,
    partition: row.partition_key,
    leaseEpoch: row.lease_epoch,
    at: row.at,
    detail: row.detail ? (JSON.parse(row.detail) as unknown) : null,
  };
}

/** The documented shape of {@link runView}. */
export const RunSchema = z.object({
  id: z.string(),
  integration: z.string(),
  trigger: z.string(),
  dryRun: z.boolean(),
  status: z.enum(['running', 'ok', 'deferred', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  retryAt: z.string().nullable(),
  error: z.string().nullable(),
  worker: z.string().nullable(),
  summary: z.unknown().meta({ description: 'The SyncSummary: per flow, its counters and outcome.' }),
});

/** The paging fields every list takes. */
export const limitField = z.coerce
  .number()
  .int()
  .min(1)
  .max(1000)
  .default(100)
  .meta({ description: 'Most items to return (1-1000).' });
