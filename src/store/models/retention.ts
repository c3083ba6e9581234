import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** What one prune removed. */
export interface PruneResult {
  /** Where the retention window now starts (ISO 8601): older events and runs are gone. */
  readonly before: string;
  readonly ledgerEvents: number;
  readonly runs: number;
}

/**
 * Removes ledger events and finished runs older than `before`, `batchSize` rows a statement, so a
 * large backlog never holds a long transaction. The boundary is recorded first: the database lets
 * a ledger event be deleted only when it is older than it (migration `ledger_retention`), so the
 * ledger inside the window stays append-only. Entity state, links, watermarks and deferred work
 * are never touched (they are what the next run compares with), nor is a run still running.
 *
 * @example
 * await pruneBefore(store.db, new Date(Date.now() - 180 * 86_400_000));
 */
export async function pruneBefore(
  db: Kysely<Database>,
  before: Date,
  batchSize = 5000,
): Promise<PruneResult> {
  const boundary = before.toISOString();
  await db
    .insertInto('ledger_retention')
    .values({ id: 1, prune_before: boundary })
    .onConflict((oc) => oc.column('id').doUpdateSet({ prune_before: boundary }))
    .execute();
  let ledgerEvents = 0;
  for (;;) {
    const ids = await db
      .selectFrom('ledger_event')
      .select('id')
      .where('at', '<', boundary)
      .orderBy('id')
      .limit(batchSize)
      .execute();
    if (ids.length === 0) break;
    await db
      .deleteFrom('ledger_event')
      .where(
        'id',
        'in',
        ids.map((r) => r.id),
      )
      .execute();
    ledgerEvents += ids.length;
  }
  let runs = 0;
  for (;;) {
    const old = await db
      .selectFrom('run')
      .select('id')
      .where('status', '!=', 'running')
      .where('finished_at', '<', boundary)
      .limit(batchSize)
      .execute();
    if (old.length === 0) break;
    const runIds = old.map((r) => r.id);
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('run_flow').where('run_id', 'in', runIds).execute();
      await trx.deleteFrom('dashboard_snapshot').where('run_id', 'in', runIds).execute();
      await trx.deleteFrom('run').where('id', 'in', runIds).execute();
    });
    runs += runIds.length;
  }
  return { before: boundary, ledgerEvents, runs };
}
