import type { Kysely } from 'kysely';

/**
 * Scale-out: a flow run split into parts across workers (docs/scale-out.md) keeps here how many
 * parts it has and which have finished, so that exactly one worker, the one that finishes the last
 * part, queues the run's sweep. Both tables exist on SQLite too, like the leases'.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('part_group')
    .addColumn('group_id', 'text', (c) => c.primaryKey())
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('expected', 'integer', (c) => c.notNull())
    .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('part_group_done')
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('part', 'text', (c) => c.notNull())
    .addColumn('done_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('part_group_done_pk', ['group_id', 'part'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('part_group_done').execute();
  await db.schema.dropTable('part_group').execute();
}
