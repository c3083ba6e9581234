import type { Kysely } from 'kysely';

/**
 * Marks the links of tickets cloud-tickets adopted from Defender for Cloud's own ServiceNow
 * integration (docs/migration.md): ticket-sync reads those tickets by sys_id, since their
 * correlation_id is not Snowline's. An explicit column, not "no correlation id": links written
 * another way must not be taken for adopted ones. 0/1 so both drivers store it alike.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('link')
    .addColumn('adopted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('link').dropColumn('adopted').execute();
}
