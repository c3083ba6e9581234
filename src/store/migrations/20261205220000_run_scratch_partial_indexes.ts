import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';

/**
 * The secondary indexes of `run_scratch` hold only the rows that are read through them: rows with
 * a sort key (`run_scratch_sort`) and rows with a `seq` from 1 (`run_scratch_seq`). Most rows of a
 * cloud-tickets run are looked up by key alone (ids remembered, statuses seen, resources, scopes,
 * group keys), and each paid for two index entries it never used, written with the row and
 * deleted with it when the run ends. Both drivers take the same partial index; a query uses it
 * when its WHERE clause carries the index's condition (`RunScratch` writes it out).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await recreateIndexes(db, true);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await recreateIndexes(db, false);
}

/** The two secondary indexes, with the rows each is read for. */
const INDEXES: readonly { name: string; columns: string[]; rows: Expression<SqlBool> }[] = [
  {
    name: 'run_scratch_sort',
    columns: ['scratch_id', 'kind', 'sort_key', 'seq'],
    rows: sql`sort_key is not null`,
  },
  { name: 'run_scratch_seq', columns: ['scratch_id', 'kind', 'seq'], rows: sql`seq > 0` },
];

async function recreateIndexes(db: Kysely<unknown>, partial: boolean): Promise<void> {
  for (const { name, columns, rows } of INDEXES) {
    await db.schema.dropIndex(name).execute();
    const index = db.schema.createIndex(name).on('run_scratch').columns(columns);
    await (partial ? index.where(rows) : index).execute();
  }
}
