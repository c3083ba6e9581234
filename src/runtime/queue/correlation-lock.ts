import { sql } from 'kysely';
import type { Store } from '../../store/store.js';

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
