import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import { currentWorkContext } from '../../runtime/work-context.js';
import { insideRecordCommit } from '../kill-point.js';
import type { Database } from '../schema.js';
import { upsertEntityStates, type EntityRef, type EntityStateUpdate } from './entity-state.js';
import { appendLedgerEvents, type LedgerContext, type LedgerEntry } from './ledger.js';
import { assertLeaseHeld, inTransaction } from './leases.js';
import { upsertLink, type LinkUpdate } from './links.js';

/** Entity states of one kind of entity, to record together. */
export interface EntityStateBatch {
  readonly ref: EntityRef;
  readonly updates: readonly EntityStateUpdate[];
}

/** What a flow recorded since its last commit: entity states, links and ledger events. */
export interface RecordBatch {
  readonly states: readonly EntityStateBatch[];
  /** Applied in order: a later update of the same assessment wins. */
  readonly links: readonly LinkUpdate[];
  readonly events: readonly LedgerEntry[];
}

/**
 * Commits one batch of records in one transaction: entity states, links and ledger events stand
 * or fall together, so the store never holds an event without the state it left behind (or the
 * other way round). Within a `snowline worker` job the transaction is fenced by the partition
 * lease: a worker that lost its lease has the whole batch refused (`LeaseLostError`).
 *
 * @example
 * await commitRecords(store.db, clock, { integrationId, runId }, { states, links: [], events });
 */
export async function commitRecords(
  db: Kysely<Database>,
  clock: Clock,
  context: LedgerContext,
  batch: RecordBatch,
): Promise<void> {
  const empty = batch.events.length === 0 && batch.links.length === 0 && batch.states.length === 0;
  if (empty) return;
  await inTransaction(db, async (trx) => {
    const work = currentWorkContext();
    if (work) await assertLeaseHeld(trx, work.lease);
    for (const { ref, updates } of batch.states) await upsertEntityStates(trx, ref, updates);
    for (const link of batch.links) await upsertLink(trx, clock, context.integrationId, link);
    await appendLedgerEvents(trx, clock, context, batch.events);
    insideRecordCommit();
  });
}
