import type { Kysely } from 'kysely';

/**
 * Per-run snapshots for the dashboard's chart over time (open vulnerable items and open tickets by
 * severity). The store keeps the current state of each entity, not its history, so the dashboard
 * records a small snapshot of the counts once per finished run.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('dashboard_snapshot')
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('taken_at', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('dashboard_snapshot_pk', ['integration_id', 'run_id'])
    .execute();
  await db.schema
    .createIndex('dashboard_snapshot_taken')
    .on('dashboard_snapshot')
    .columns(['integration_id', 'taken_at'])
    .execute();
}

/** Drops the snapshots. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('dashboard_snapshot').execute();
}
