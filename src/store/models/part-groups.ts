import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import type { Database } from '../schema.js';
import { inTransaction } from './leases.js';

/** Row of `part_group`: one flow run split into `expected` parts, `done` of them finished. */
export interface PartGroupTable {
  group_id: string;
  integration_id: string;
  flow: string;
  expected: number;
  done: number;
  created_at: string;
}

/** Row of `part_group_done`: a part of a group that finished (once, whatever its job's retries). */
export interface PartGroupDoneTable {
  group_id: string;
  part: string;
  done_at: string;
}

type PartGroupDatabase = Database & { part_group: PartGroupTable; part_group_done: PartGroupDoneTable };

function groups(db: Kysely<Database>): Kysely<PartGroupDatabase> {
  return db.withTables<{ part_group: PartGroupTable; part_group_done: PartGroupDoneTable }>();
}

/**
 * Opens the group of a split flow run before its parts are queued, expecting every part; once
 * they are queued, {@link settlePartGroup} says how many really were.
 */
export async function openPartGroup(
  db: Kysely<Database>,
  clock: Clock,
  group: {
    readonly id: string;
    readonly integrationId: string;
    readonly flow: string;
    readonly parts: number;
  },
): Promise<void> {
  await groups(db)
    .insertInto('part_group')
    .values({
      group_id: group.id,
      integration_id: group.integrationId,
      flow: group.flow,
      expected: group.parts,
      done: 0,
      created_at: clock.now().toISOString(),
    })
    .onConflict((c) => c.column('group_id').doNothing())
    .execute();
}

/**
 * Marks a part of a group finished. `last` for exactly one caller, the one that finished the
 * group's last part (the counter is raised in the same transaction as the part's row, whose key
 * makes a retried part count once; PostgreSQL's row lock on the update orders two parts that end
 * at once); the group is then deleted. `more` while parts are still running; `again` for a part
 * counted before, or a group already finished.
 */
export async function finishPart(
  db: Kysely<Database>,
  clock: Clock,
  groupId: string,
  part: string,
): Promise<'last' | 'more' | 'again'> {
  return inTransaction(db, async (trx) => {
    const inserted = await groups(trx)
      .insertInto('part_group_done')
      .values({ group_id: groupId, part, done_at: clock.now().toISOString() })
      .onConflict((c) => c.columns(['group_id', 'part']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return 'again';
    const row = await groups(trx)
      .updateTable('part_group')
      .set((eb) => ({ done: eb('done', '+', 1) }))
      .where('group_id', '=', groupId)
      .returning(['done', 'expected'])
      .executeTakeFirst();
    if (row && Number(row.done) < Number(row.expected)) return 'more';
    // Finished: the group goes. A part of a group already finished and deleted leaves no row behind.
    await closeGroup(trx, groupId);
    return row ? 'last' : 'again';
  });
}

/**
 * Sets how many parts of a group were queued (`queued`, at most the number it was opened with): a
 * part that already had a job waiting from an earlier run joined that job (the queue keeps one
 * waiting job per partition), and finishes the earlier run's group, not this one. `last` when the
 * queued parts have all finished already (none queued, or all done before this call): the caller
 * queues the sweep, and the group is deleted. Ordered with {@link finishPart} by the row lock, so
 * exactly one of them answers `last`.
 */
export async function settlePartGroup(
  db: Kysely<Database>,
  groupId: string,
  queued: number,
): Promise<'last' | 'more'> {
  return inTransaction(db, async (trx) => {
    const row = await groups(trx)
      .updateTable('part_group')
      .set({ expected: queued })
      .where('group_id', '=', groupId)
      .returning(['done', 'expected'])
      .executeTakeFirst();
    if (!row || Number(row.done) < Number(row.expected)) return 'more';
    await closeGroup(trx, groupId);
    return 'last';
  });
}

/** Deletes a finished group and its parts' rows. */
async function closeGroup(trx: Kysely<Database>, groupId: string): Promise<void> {
  await groups(trx).deleteFrom('part_group_done').where('group_id', '=', groupId).execute();
  await groups(trx).deleteFrom('part_group').where('group_id', '=', groupId).execute();
}
