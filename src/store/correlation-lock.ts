import { sql } from 'kysely';
import type { Store } from './store.js';

/** What {@link createIfAbsent} did: found the record another writer created, or created it. */
export type CreateIfAbsent<E, C> = { readonly existing: E } | { readonly created: C };

/**
 * Creates a ServiceNow record keyed by a correlation id unless one exists. On a PostgreSQL store
 * (several workers) the search and the create run under `pg_advisory_xact_lock` on the
 * correlation id, held in a transaction until the create returned, so two workers can never both
 * see "absent" and create twice. On SQLite there is one process: the caller's earlier search
 * (cloud-tickets loads every ticket of the integration at the start of a run) stands, and no
 * extra request is sent.
 */
export async function createIfAbsent<E, C>(
  store: Store,
  correlationId: string,
  search: () => Promise<E | undefined>,
  create: () => Promise<C>,
): Promise<CreateIfAbsent<E, C>> {
  if (store.dialect !== 'postgres') return { created: await create() };
  return store.db.transaction().execute(async (trx) => {
    // hashtextextended: a 64-bit key from the text, as the advisory lock functions take.
    await sql`select pg_advisory_xact_lock(hashtextextended(${correlationId}, 0))`.execute(trx);
    const existing = await search();
    if (existing !== undefined) return { existing };
    return { created: await create() };
  });
}

/**
 * {@link createIfAbsent} for a batch: on a PostgreSQL store takes the advisory lock of every
 * correlation id (in one order, so two workers never deadlock), asks `search` which of them exist
 * by now, and passes only the absent ones to `create`, all in one transaction held until `create`
 * returned. On SQLite nothing is searched again (see {@link createIfAbsent}).
 */
export async function createAllIfAbsent<E, C>(
  store: Store,
  correlationIds: readonly string[],
  search: (ids: readonly string[]) => Promise<ReadonlyMap<string, E>>,
  create: (absent: readonly string[]) => Promise<C>,
): Promise<{ readonly existing: ReadonlyMap<string, E>; readonly created: C }> {
  if (store.dialect !== 'postgres') return { existing: new Map(), created: await create(correlationIds) };
  return underLocks(store, correlationIds, async () => {
    const existing = await search(correlationIds);
    const absent = correlationIds.filter((id) => !existing.has(id));
    return { existing, created: await create(absent) };
  });
}

/**
 * Runs `work` holding the advisory lock of every id (taken in one order, so two workers never
 * deadlock) in a transaction held until `work` returned: on a PostgreSQL store, two workers that
 * search and then create records under the same ids take turns, and the second one's search sees
 * what the first created. On SQLite (one process) `work` runs as it is.
 */
export async function underLocks<T>(
  store: Store,
  ids: readonly string[],
  work: () => Promise<T>,
): Promise<T> {
  if (store.dialect !== 'postgres' || ids.length === 0) return work();
  return store.db.transaction().execute(async (trx) => {
    for (const id of [...new Set(ids)].sort())
      await sql`select pg_advisory_xact_lock(hashtextextended(${id}, 0))`.execute(trx);
    return work();
  });
}
