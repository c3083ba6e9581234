import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/** The first schema: runs, per-flow counts, entity state, ledger, links, watermarks, deferred work. */
export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = dialectOf(db) === 'postgres';

  await db.schema
    .createTable('run')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('dry_run', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('retry_at', 'text')
    .addColumn('summary', 'text')
    .addColumn('error', 'text')
    .addColumn('worker', 'text')
    .execute();
  await db.schema
    .createIndex('run_integration_started')
    .on('run')
    .columns(['integration_id', 'started_at'])
    .execute();

  await db.schema
    .createTable('run_flow')
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('created', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unchanged', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retired', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('resolved', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('errors', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('requests_servicenow', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('requests_defender', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('duration_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('retry_at', 'text')
    .addColumn('extra', 'text')
    .addPrimaryKeyConstraint('run_flow_pk', ['run_id', 'flow'])
    .execute();
  await db.schema
    .createIndex('run_flow_integration_flow')
    .on('run_flow')
    .columns(['integration_id', 'flow'])
    .execute();

  await db.schema
    .createTable('entity_state')
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('entity', 'text', (c) => c.notNull())
    .addColumn('source_key', 'text', (c) => c.notNull())
    .addColumn('remote_table', 'text')
    .addColumn('remote_sys_id', 'text')
    .addColumn('content_hash', 'text')
    .addColumn('last_seen_at', 'text')
    .addColumn('last_written_at', 'text')
    .addColumn('retired_at', 'text')
    .addColumn('data', 'text')
    .addPrimaryKeyConstraint('entity_state_pk', ['integration_id', 'flow', 'entity', 'source_key'])
    .execute();
  await db.schema
    .createIndex('entity_state_remote')
    .on('entity_state')
    .columns(['integration_id', 'remote_sys_id'])
    .execute();

  // The ledger's id orders events; PostgreSQL needs an identity column where SQLite's integer
  // primary key is the rowid and increments by itself.
  await db.schema
    .createTable('ledger_event')
    .addColumn('id', postgres ? 'bigint' : 'integer', (c) =>
      postgres ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
    )
    .addColumn('run_id', 'text')
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('side', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('entity', 'text', (c) => c.notNull())
    .addColumn('entity_key', 'text', (c) => c.notNull())
    .addColumn('remote_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('worker', 'text')
    .addColumn('partition_key', 'text')
    .addColumn('lease_epoch', 'integer')
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute();
  await db.schema
    .createIndex('ledger_event_run')
    .on('ledger_event')
    .columns(['integration_id', 'run_id'])
    .execute();
  await db.schema
    .createIndex('ledger_event_flow_at')
    .on('ledger_event')
    .columns(['integration_id', 'flow', 'at'])
    .execute();
  await db.schema
    .createIndex('ledger_event_key')
    .on('ledger_event')
    .columns(['integration_id', 'entity_key'])
    .execute();

  await db.schema
    .createTable('link')
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('assessment_id', 'text', (c) => c.notNull())
    .addColumn('subscription_id', 'text')
    .addColumn('ticket_table', 'text')
    .addColumn('ticket_sys_id', 'text')
    .addColumn('ticket_number', 'text')
    .addColumn('correlation_id', 'text')
    .addColumn('governance_assignment_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('link_pk', ['integration_id', 'assessment_id'])
    .execute();
  await db.schema
    .createIndex('link_correlation')
    .on('link')
    .columns(['integration_id', 'correlation_id'])
    .execute();
  await db.schema
    .createIndex('link_ticket')
    .on('link')
    .columns(['integration_id', 'ticket_sys_id'])
    .execute();

  await db.schema
    .createTable('watermark')
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('watermark_pk', ['integration_id', 'flow', 'scope'])
    .execute();

  await db.schema
    .createTable('deferred_work')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('partition_key', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'text')
    .addColumn('not_before', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('deferred_work_partition', ['integration_id', 'flow', 'partition_key', 'kind'])
    .execute();
  await db.schema
    .createIndex('deferred_work_due')
    .on('deferred_work')
    .columns(['integration_id', 'not_before'])
    .execute();

  // The ledger is append-only: refuse UPDATE and DELETE at the database, not just in the code.
  if (postgres) {
    await sql`CREATE FUNCTION ledger_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'ledger_event is append-only'; END $$`.execute(db);
    await sql`CREATE TRIGGER ledger_event_no_change BEFORE UPDATE OR DELETE ON ledger_event
      FOR EACH ROW EXECUTE FUNCTION ledger_event_append_only()`.execute(db);
  } else {
    await sql`CREATE TRIGGER ledger_event_no_update BEFORE UPDATE ON ledger_event
      BEGIN SELECT RAISE(ABORT, 'ledger_event is append-only'); END`.execute(db);
    await sql`CREATE TRIGGER ledger_event_no_delete BEFORE DELETE ON ledger_event
      BEGIN SELECT RAISE(ABORT, 'ledger_event is append-only'); END`.execute(db);
  }
}

/** Drops everything the initial migration created. */
export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'deferred_work',
    'watermark',
    'link',
    'ledger_event',
    'entity_state',
    'run_flow',
    'run',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
  if (dialectOf(db) === 'postgres') await sql`DROP FUNCTION IF EXISTS ledger_event_append_only()`.execute(db);
}
