import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import type { Flow, Side } from '../../domain/flows.js';
import { planActionKey, type PlanAction } from '../../domain/plan.js';
import { currentWorkContext } from '../../runtime/work-context.js';
import { chunksFor } from '../chunks.js';
import type { Database, LedgerEventRow, NewLedgerEvent } from '../schema.js';
import { assertLeaseHeld, inTransaction } from './leases.js';

/** Who recorded an event: the run, and for scale-out the worker, partition and lease epoch. */
export interface LedgerContext {
  readonly integrationId: string;
  readonly runId: string | null;
  readonly worker?: string | null;
  readonly partitionKey?: string | null;
  readonly leaseEpoch?: number | null;
}

/** One event to record. */
export interface LedgerEntry {
  readonly flow: Flow;
  readonly side: Side;
  readonly action: string;
  readonly entity: string;
  readonly key: string;
  readonly remoteId?: string | null;
  readonly reason: string;
  readonly detail?: unknown;
}

/**
 * Appends events to the ledger in one transaction-friendly batch. The ledger is append-only
 * (the database refuses updates and deletes).
 *
 * Within a `snowline worker` job (a work context is set), each event carries the worker, the
 * partition key and the lease epoch, and the write is fenced: it commits only while the lease
 * epoch is still the worker's, in the same transaction as the caller's entity-state writes, so a
 * stale worker's late writes fail as a whole (`LeaseLostError`).
 */
export async function appendLedgerEvents(
  db: Kysely<Database>,
  clock: Clock,
  context: LedgerContext,
  entries: readonly LedgerEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  const work = currentWorkContext();
  if (work) {
    const fenced: LedgerContext = {
      ...context,
      worker: work.worker,
      partitionKey: work.lease.partitionKey,
      leaseEpoch: work.lease.epoch,
    };
    await inTransaction(db, async (trx) => {
      await assertLeaseHeld(trx, work.lease);
      await insertLedgerEvents(trx, clock, fenced, entries);
    });
    return;
  }
  await insertLedgerEvents(db, clock, context, entries);
}

async function insertLedgerEvents(
  db: Kysely<Database>,
  clock: Clock,
  context: LedgerContext,
  entries: readonly LedgerEntry[],
): Promise<void> {
  const at = clock.now().toISOString();
  const rows: NewLedgerEvent[] = entries.map((e) => ({
    run_id: context.runId,
    integration_id: context.integrationId,
    flow: e.flow,
    side: e.side,
    action: e.action,
    entity: e.entity,
    entity_key: e.key,
    remote_id: e.remoteId ?? null,
    reason: e.reason,
    worker: context.worker ?? null,
    partition_key: context.partitionKey ?? null,
    lease_epoch: context.leaseEpoch ?? null,
    at,
    detail: e.detail === undefined ? null : JSON.stringify(e.detail),
  }));
  for (const chunk of chunksFor(rows, 14)) await db.insertInto('ledger_event').values(chunk).execute();
}

/** The ledger entry recording that a plan action was executed. */
export function ledgerEntryFor(action: PlanAction, remoteId?: string | null): LedgerEntry {
  return {
    flow: action.flow,
    side: action.side,
    action: action.action,
    entity: action.entity,
    key: action.key,
    remoteId: remoteId ?? action.target?.id ?? null,
    reason: action.reason,
    ...(action.changes ? { detail: { changes: action.changes } } : {}),
  };
}

/** Filters for {@link queryLedger}; all optional except the integration. */
export interface LedgerQuery {
  readonly integrationId: string;
  readonly runId?: string;
  readonly flow?: string;
  readonly side?: string;
  readonly action?: string;
  readonly entity?: string;
  readonly key?: string;
  /** Only events at or after this time. */
  readonly since?: Date;
  /** Only events with an id greater than this (cursor paging). */
  readonly afterId?: number;
  readonly limit?: number;
}

/** Ledger events matching the filters, oldest first. */
export async function queryLedger(db: Kysely<Database>, query: LedgerQuery): Promise<LedgerEventRow[]> {
  let q = db.selectFrom('ledger_event').selectAll().where('integration_id', '=', query.integrationId);
  if (query.runId !== undefined) q = q.where('run_id', '=', query.runId);
  if (query.flow !== undefined) q = q.where('flow', '=', query.flow);
  if (query.side !== undefined) q = q.where('side', '=', query.side);
  if (query.action !== undefined) q = q.where('action', '=', query.action);
  if (query.entity !== undefined) q = q.where('entity', '=', query.entity);
  if (query.key !== undefined) q = q.where('entity_key', '=', query.key);
  if (query.since !== undefined) q = q.where('at', '>=', query.since.toISOString());
  if (query.afterId !== undefined) q = q.where('id', '>', query.afterId);
  const rows = await q
    .orderBy('id')
    .limit(query.limit ?? 1000)
    .execute();
  // PostgreSQL returns bigint identity values as strings; the id is a number everywhere else.
  return rows.map((row) => ({ ...row, id: Number(row.id) }));
}

/** The {@link planActionKey}s of a run's events, to compare with the plan it executed. */
export async function ledgerActionKeys(
  db: Kysely<Database>,
  integrationId: string,
  runId: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom('ledger_event')
    .select(['flow', 'side', 'action', 'entity', 'entity_key'])
    .where('integration_id', '=', integrationId)
    .where('run_id', '=', runId)
    .orderBy('id')
    .execute();
  return rows.map((r) =>
    planActionKey({
      flow: r.flow as Flow,
      side: r.side as Side,
      action: r.action as PlanAction['action'],
      entity: r.entity,
      key: r.entity_key,
    }),
  );
}
