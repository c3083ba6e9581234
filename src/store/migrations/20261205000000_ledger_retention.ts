import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Retention for the append-only ledger. The database still refuses every UPDATE and DELETE of a
 * ledger event, except the deletion of events older than the boundary that `snowline store prune`
 * (and `serve`, daily) records in `ledger_retention`: the ledger stays append-only inside the
 * retention window, and an event can only go once it is past it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = dialectOf(db) === 'postgres';
  await db.schema
    .createTable('ledger_retention')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('prune_before', 'text', (c) => c.notNull())
    .execute();
  if (postgres) {
    await sql`CREATE OR REPLACE FUNCTION ledger_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND OLD.at < COALESCE((SELECT prune_before FROM ledger_retention WHERE id = 1), '') THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'ledger_event is append-only';
      END $$`.execute(db);
  } else {
    await sql`DROP TRIGGER ledger_event_no_delete`.execute(db);
    await sql`CREATE TRIGGER ledger_event_no_delete BEFORE DELETE ON ledger_event
      WHEN NOT (OLD.at < COALESCE((SELECT prune_before FROM ledger_retention WHERE id = 1), ''))
      BEGIN SELECT RAISE(ABORT, 'ledger_event is append-only'); END`.execute(db);
  }
}

/** Back to a ledger that refuses every deletion. */
export async function down(db: Kysely<unknown>): Promise<void> {
  if (dialectOf(db) === 'postgres') {
    await sql`CREATE OR REPLACE FUNCTION ledger_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'ledger_event is append-only'; END $$`.execute(db);
  } else {
    await sql`DROP TRIGGER ledger_event_no_delete`.execute(db);
    await sql`CREATE TRIGGER ledger_event_no_delete BEFORE DELETE ON ledger_event
      BEGIN SELECT RAISE(ABORT, 'ledger_event is append-only'); END`.execute(db);
  }
  await db.schema.dropTable('ledger_retention').execute();
}
