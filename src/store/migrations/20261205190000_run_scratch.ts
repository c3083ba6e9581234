import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Scratch rows a flow run keeps in the store instead of in memory (cloud-tickets groups its covered
 * assessments here, so what it holds at once is one chunk of groups, not the estate). Rows belong
 * to one run (`scratch_id`), are deleted when it ends, and those a crashed run left are swept by
 * the next run of the same flow.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Keys are paged in code-unit order (JavaScript's sort): PostgreSQL's default collation ignores
  // punctuation, so its keys are "C"-collated, and their index serves that order.
  const text = dialectOf(db) === 'postgres' ? sql`text collate "C"` : 'text';
  await db.schema
    .createTable('run_scratch')
    .addColumn('scratch_id', 'text', (c) => c.notNull())
    .addColumn('integration_id', 'text', (c) => c.notNull())
    .addColumn('flow', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('key', text, (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sort_key', text)
    .addColumn('data', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_scratch_pk', ['scratch_id', 'kind', 'key'])
    .execute();
  await db.schema
    .createIndex('run_scratch_sort')
    .on('run_scratch')
    .columns(['scratch_id', 'kind', 'sort_key', 'seq'])
    .execute();
  await db.schema
    .createIndex('run_scratch_seq')
    .on('run_scratch')
    .columns(['scratch_id', 'kind', 'seq'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('run_scratch').execute();
}
