import type { Kysely } from 'kysely';

/**
 * Scale-out: a lease with a fencing epoch per work partition (a stale worker's late ledger writes
 * fail against it), and one request budget per ServiceNow instance shared by every worker.
 * Both tables exist on SQLite too, so that the same code reads them; only PostgreSQL stores
 * are shared by several workers.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('partition_lease')
    .addColumn('partition_key', 'text', (c) => c.primaryKey())
    .addColumn('epoch', 'integer', (c) => c.notNull())
    .addColumn('worker', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'text', (c) => c.notNull())
    // Epoch milliseconds: compared as numbers on both stores.
    .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('request_budget')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('tokens', 'double precision', (c) => c.notNull())
    .addColumn('refilled_at_ms', 'bigint', (c) => c.notNull())
    .addColumn('paused_until_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('request_budget').execute();
  await db.schema.dropTable('partition_lease').execute();
}
