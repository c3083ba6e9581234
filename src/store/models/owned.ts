import { sql, type Kysely } from 'kysely';
import { chunksFor } from '../chunks.js';
import type { Database } from '../schema.js';

/** Which recorded records of a flow are its own on a remote side: its entity kinds with a remote sys_id. */
export interface OwnedScope {
  readonly integrationId: string;
  readonly flow: string;
  /** Entity kinds whose `remote_table` / `remote_sys_id` name a record the flow wrote. */
  readonly entities: readonly string[];
}

/** One record the store says a flow wrote (and did not retire): where it is and under which key. */
export interface OwnedRecord {
  readonly entity: string;
  readonly sourceKey: string;
  readonly table: string;
  readonly sysId: string;
  readonly lastWrittenAt: string | null;
}

function ownedRows(db: Kysely<Database>, scope: OwnedScope) {
  return db
    .selectFrom('entity_state')
    .select(['entity', 'source_key', 'remote_table', 'remote_sys_id', 'last_written_at'])
    .where('integration_id', '=', scope.integrationId)
    .where('flow', '=', scope.flow)
    .where('entity', 'in', [...scope.entities])
    .where('remote_table', 'is not', null)
    .where('remote_sys_id', 'is not', null)
    .where('retired_at', 'is', null);
}

function owned(row: {
  entity: string;
  source_key: string;
  remote_table: string | null;
  remote_sys_id: string | null;
  last_written_at: string | null;
}): OwnedRecord {
  return {
    entity: row.entity,
    sourceKey: row.source_key,
    table: row.remote_table!,
    sysId: row.remote_sys_id!,
    lastWrittenAt: row.last_written_at,
  };
}

/**
 * A sample of the records a flow owns: the `newest` last written (what a restore of the remote
 * side from an earlier backup loses first) and `random` others drawn at random (what a bulk
 * delete or a clone touches anywhere). `RANDOM()` is the same function in SQLite and PostgreSQL.
 */
export async function sampleOwnedRecords(
  db: Kysely<Database>,
  scope: OwnedScope,
  counts: { readonly newest: number; readonly random: number },
): Promise<{ newest: OwnedRecord[]; random: OwnedRecord[] }> {
  if (scope.entities.length === 0) return { newest: [], random: [] };
  const newest = (
    await ownedRows(db, scope)
      .where('last_written_at', 'is not', null)
      .orderBy('last_written_at', 'desc')
      .orderBy('source_key')
      .limit(counts.newest)
      .execute()
  ).map(owned);
  const taken = new Set(newest.map((r) => `${r.entity}\u241f${r.sourceKey}`));
  const random = (
    await ownedRows(db, scope)
      .orderBy(sql`random()`)
      .limit(counts.random + taken.size)
      .execute()
  )
    .map(owned)
    .filter((r) => !taken.has(`${r.entity}\u241f${r.sourceKey}`))
    .slice(0, counts.random);
  return { newest, random };
}

/** Every record a flow owns, a page at a time (keyset paging on entity and key). */
export async function* ownedRecordPages(
  db: Kysely<Database>,
  scope: OwnedScope,
  pageSize = 1000,
): AsyncGenerator<OwnedRecord[]> {
  for (const entity of scope.entities) {
    let after = '';
    for (;;) {
      const page = await ownedRows(db, { ...scope, entities: [entity] })
        .where('source_key', '>', after)
        .orderBy('source_key')
        .limit(pageSize)
        .execute();
      if (page.length === 0) break;
      yield page.map(owned);
      after = page[page.length - 1]!.source_key;
      if (page.length < pageSize) break;
    }
  }
}

/**
 * Forgets what the store says about one flow of one integration, as if its store were new:
 * entity states, watermarks, deferred work (a deferred run's resume entry stays, so the run still
 * resumes) and, for the flows that keep them, assessment links. The ledger is history and stays.
 */
export async function forgetFlowState(
  db: Kysely<Database>,
  ref: { readonly integrationId: string; readonly flow: string },
  options: { readonly links: boolean },
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .deleteFrom('entity_state')
      .where('integration_id', '=', ref.integrationId)
      .where('flow', '=', ref.flow)
      .execute();
    await tx
      .deleteFrom('watermark')
      .where('integration_id', '=', ref.integrationId)
      .where('flow', '=', ref.flow)
      .execute();
    await tx
      .deleteFrom('deferred_work')
      .where('integration_id', '=', ref.integrationId)
      .where('flow', '=', ref.flow)
      .where('kind', '!=', 'run-resume')
      .execute();
    if (options.links) await tx.deleteFrom('link').where('integration_id', '=', ref.integrationId).execute();
  });
}

/** Forgets how far a flow has read its incremental sources: its next read starts from the beginning. */
export async function forgetWatermarks(
  db: Kysely<Database>,
  ref: { readonly integrationId: string; readonly flow: string },
  keep: readonly string[] = [],
): Promise<void> {
  let query = db
    .deleteFrom('watermark')
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow);
  if (keep.length > 0) query = query.where('scope', 'not in', [...keep]);
  await query.execute();
}

/** Forgets every entity of one kind of a flow: their hashes no longer say "nothing to send". */
export async function forgetEntityKind(
  db: Kysely<Database>,
  ref: { readonly integrationId: string; readonly flow: string; readonly entity: string },
): Promise<void> {
  await db
    .deleteFrom('entity_state')
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('entity', '=', ref.entity)
    .execute();
}

/** Forgets single entities of a flow (their record is gone on the remote side): the flow sends them as new. */
export async function forgetEntities(
  db: Kysely<Database>,
  ref: { readonly integrationId: string; readonly flow: string; readonly entity: string },
  sourceKeys: readonly string[],
): Promise<void> {
  for (const chunk of chunksFor([...new Set(sourceKeys)], 1, 900)) {
    await db
      .deleteFrom('entity_state')
      .where('integration_id', '=', ref.integrationId)
      .where('flow', '=', ref.flow)
      .where('entity', '=', ref.entity)
      .where('source_key', 'in', chunk)
      .execute();
  }
}
